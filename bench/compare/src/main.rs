//! chatstream against the parsers a user would pick instead, measured side by side in one run.
//!
//! ```text
//! cd bench/compare && cargo run --release            # full run (under a minute)
//! cd bench/compare && cargo run --release -- --quick # smoke run (seconds)
//! ```
//!
//! Prints one table: SSE parse throughput at three feed sizes (chatstream, eventsource-stream, a
//! naive `BufRead::lines()` splitter, and the memchr limit), the chat layer in memory (SSE, JSON
//! and accumulation: chatstream, async-openai's typed chunk, a borrowed serde-derive chunk,
//! eventsource-stream + `Value`), one 8 MiB `data` line fed in 64-byte pieces vs whole, and
//! allocations per event; then the end-to-end loopback comparison (client processes' CPU time
//! per event); then the targets, each met or missed. Every time is a median of several runs,
//! and every ratio compares against chatstream measured in the same process run, in CPU time
//! (user + sys), because wall time on a shared machine moves too much.

mod chat_decode;
mod contenders;
mod e2e;
mod input;
mod measure;

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use chatstream::sse::Parser;
use contenders::Counts;
use measure::{Medians, Sample, count_allocations, medians, time_once};

#[global_allocator]
static GLOBAL: measure::CountingAllocator = measure::CountingAllocator;

struct Config {
    quick: bool,
    runs: usize,
    stream_size: usize,
    huge_line: usize,
    /// Longest single run allowed for one eventsource-stream pathological step, in seconds.
    quadratic_budget: f64,
    /// Shortest sample, in seconds: faster contenders are repeated within one sample.
    min_sample: f64,
    /// Events per end-to-end stream, and rounds of the end-to-end clients.
    e2e_events: usize,
    e2e_runs: usize,
}

fn config() -> Config {
    let mut quick = false;
    let mut runs = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--runs" => {
                runs = Some(
                    args.next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|&n| n >= 1)
                        .unwrap_or_else(|| usage("--runs needs a number >= 1")),
                );
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if quick {
        Config {
            quick,
            runs: runs.unwrap_or(3),
            stream_size: 1 << 20,
            huge_line: 1 << 20,
            quadratic_budget: 0.3,
            min_sample: 0.005,
            e2e_events: 10_000,
            e2e_runs: 1,
        }
    } else {
        Config {
            quick,
            runs: runs.unwrap_or(15),
            stream_size: 12_000_000,
            huge_line: 8 << 20,
            quadratic_budget: 3.0,
            min_sample: 0.03,
            e2e_events: 100_000,
            e2e_runs: runs.unwrap_or(15).min(5),
        }
    }
}

fn usage(message: &str) -> ! {
    if !message.is_empty() {
        eprintln!("chatstream-compare: {message}");
    }
    eprintln!("usage: chatstream-compare [--quick] [--runs N]");
    std::process::exit(if message.is_empty() { 0 } else { 2 });
}

/// One line of the table.
struct Row {
    section: &'static str,
    feed: String,
    contender: String,
    /// Input bytes per run (for MB/s).
    bytes: usize,
    /// Events per run (for events/s), if the contender produces events.
    events: Option<u64>,
    time: Medians,
    /// chatstream's time in the same section and feed size.
    base: Option<Medians>,
    allocs_per_event: Option<f64>,
    note: String,
}

/// Runs every contender once per round, `runs` rounds, after one warm-up pass each. Interleaving
/// spreads a load spike over all contenders instead of one. A contender faster than `min_sample`
/// seconds is repeated within its sample (the sample is then the mean of the repeats), so that
/// even the memchr limit is timed over tens of milliseconds.
fn interleaved(runs: usize, min_sample: f64, contenders: &mut [&mut dyn FnMut()]) -> Vec<Medians> {
    let repeats: Vec<usize> = contenders
        .iter_mut()
        .map(|f| {
            let (_, warm_up) = time_once(&mut *f);
            ((min_sample / warm_up.cpu.max(1e-6)).ceil() as usize).clamp(1, 1000)
        })
        .collect();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(runs); contenders.len()];
    for _ in 0..runs {
        for ((f, samples), &repeats) in contenders.iter_mut().zip(&mut samples).zip(&repeats) {
            let (_, sample) = time_once(|| {
                for _ in 0..repeats {
                    f();
                }
            });
            samples.push(Sample {
                cpu: sample.cpu / repeats as f64,
                wall: sample.wall / repeats as f64,
            });
        }
    }
    samples.iter().map(|s| medians(s)).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--e2e-client") {
        e2e::client_main(&args[1..]);
    }
    let config = config();
    let started = Instant::now();
    let cpu_started = measure::process_cpu_seconds();
    let load_start = load_average();

    let stream = input::chat_stream(config.stream_size);
    let input = &stream.bytes[..];
    let reference = contenders::chatstream(input, input.len());
    let mut rows: Vec<Row> = Vec::new();
    let mut checks: Vec<String> = Vec::new();
    let mut targets: Vec<Target> = Vec::new();

    // ---------------------------------------------------------------- SSE parse throughput
    let mut warm_parser = Parser::new();
    let mut sse_ratios = Vec::new();
    for (label, feed) in [("64 B", 64), ("4 KiB", 4 << 10), ("64 KiB", 64 << 10)] {
        let (mut cs, mut es, mut lines, mut limit) = (
            Counts::default(),
            Counts::default(),
            Counts::default(),
            0u64,
        );
        let times = interleaved(
            config.runs,
            0.0,
            &mut [
                &mut || cs = contenders::chatstream(black_box(input), feed),
                &mut || es = contenders::eventsource_stream(black_box(input), feed),
                &mut || lines = contenders::naive_lines(black_box(input), feed),
                &mut || limit = contenders::memchr_limit(black_box(input), feed),
            ],
        );
        for (name, counts) in [("eventsource-stream", es), ("naive lines()", lines)] {
            if counts != cs {
                checks.push(format!(
                    "{label} feeds: {name} saw {counts:?}, chatstream {cs:?}"
                ));
            }
        }
        assert_eq!(cs, reference, "chatstream differs with {label} feeds");
        black_box(limit);
        // The limit again, cache-hot: passes back to back, each sample at least `min_sample`
        // long, so the input stays in the caches between passes.
        let hot = interleaved(
            config.runs,
            config.min_sample,
            &mut [&mut || limit = contenders::memchr_limit(black_box(input), feed)],
        )[0];

        // Allocations: chatstream with a warm (reset, reused) parser is the steady state the
        // crate promises; a new parser allocates while its buffers grow, once per stream.
        contenders::chatstream_with(&mut warm_parser, input, feed);
        let (_, cs_warm) =
            count_allocations(|| contenders::chatstream_with(&mut warm_parser, input, feed));
        let (_, cs_cold) = count_allocations(|| contenders::chatstream(input, feed));
        let (_, es_allocs) = count_allocations(|| contenders::eventsource_stream(input, feed));
        let (_, lines_allocs) = count_allocations(|| contenders::naive_lines(input, feed));
        let per_event = |n: u64| Some(n as f64 / cs.events as f64);

        let base = times[0];
        rows.push(Row {
            section: "SSE parse",
            feed: label.into(),
            contender: "chatstream".into(),
            bytes: input.len(),
            events: Some(cs.events),
            time: base,
            base: Some(base),
            allocs_per_event: per_event(cs_warm),
            note: format!("new parser: {cs_cold} allocs per stream"),
        });
        rows.push(Row {
            section: "SSE parse",
            feed: label.into(),
            contender: "eventsource-stream".into(),
            bytes: input.len(),
            events: Some(es.events),
            time: times[1],
            base: Some(base),
            allocs_per_event: per_event(es_allocs),
            note: String::new(),
        });
        rows.push(Row {
            section: "SSE parse",
            feed: label.into(),
            contender: "naive lines()".into(),
            bytes: input.len(),
            events: Some(lines.events),
            time: times[2],
            base: Some(base),
            allocs_per_event: per_event(lines_allocs),
            note: String::new(),
        });
        rows.push(Row {
            section: "SSE parse",
            feed: label.into(),
            contender: "memchr limit".into(),
            bytes: input.len(),
            events: None,
            time: times[3],
            base: Some(base),
            allocs_per_event: None,
            note: format!(
                "one pass per sample, like the parsers: chatstream at {:.2}x the limit",
                times[3].cpu / base.cpu
            ),
        });
        rows.push(Row {
            section: "SSE parse",
            feed: label.into(),
            contender: "memchr limit, cache-hot".into(),
            bytes: input.len(),
            events: None,
            time: hot,
            base: Some(base),
            allocs_per_event: None,
            note: format!(
                "passes back to back: chatstream at {:.2}x the limit",
                hot.cpu / base.cpu
            ),
        });
        sse_ratios.push((
            label,
            times[1].cpu / base.cpu,
            times[3].cpu / base.cpu,
            hot.cpu / base.cpu,
            cs_warm,
        ));
    }

    // ---------------------------------------------------------------- chat layer in memory
    let decode_feed = 4 << 10;
    let (mut typed, mut value, mut es_value, mut aoai, mut borrowed) = Default::default();
    let times = interleaved(
        config.runs,
        0.0,
        &mut [
            &mut || typed = contenders::chatstream_chunks(black_box(input), decode_feed),
            &mut || aoai = chat_decode::async_openai_typed(black_box(input), decode_feed),
            &mut || borrowed = chat_decode::borrowed_limit(black_box(input), decode_feed),
            &mut || es_value = contenders::eventsource_value(black_box(input), decode_feed),
            &mut || value = contenders::chatstream_value(black_box(input), decode_feed),
        ],
    );
    let typed: contenders::Decoded = typed;
    let aoai: contenders::Decoded = aoai;
    let borrowed: contenders::Decoded = borrowed;
    let value: contenders::Decoded = value;
    let es_value: contenders::Decoded = es_value;
    for (name, peer) in [
        ("async-openai", aoai),
        ("borrowed serde-derive", borrowed),
        ("eventsource-stream + Value", es_value),
    ] {
        if (typed.chunks, typed.completions) != (peer.chunks, peer.completions) {
            checks.push(format!("chat layer: chatstream {typed:?}, {name} {peer:?}"));
        }
    }
    // Allocations: the whole chat layer per chunk, for every contender.
    let (_, typed_allocs) = count_allocations(|| contenders::chatstream_chunks(input, decode_feed));
    let (_, aoai_allocs) =
        count_allocations(|| chat_decode::async_openai_typed(input, decode_feed));
    let (_, borrowed_allocs) =
        count_allocations(|| chat_decode::borrowed_limit(input, decode_feed));
    let (_, es_value_allocs) =
        count_allocations(|| contenders::eventsource_value(input, decode_feed));
    let (_, value_allocs) = count_allocations(|| contenders::chatstream_value(input, decode_feed));
    let (phases, _) = count_allocations(|| contenders::chatstream_chunk_phases(input, decode_feed));
    let per_chunk = |n: u64| n as f64 / typed.chunks as f64;
    let chunk_only = per_chunk(phases.decode);
    let typed_blocks = per_chunk(phases.typed);
    let chat_layer = per_chunk(typed_allocs);
    let base = times[0];
    let failed = |d: contenders::Decoded| {
        if d.errors == 0 {
            String::new()
        } else {
            format!(
                "; {} chunks failed to decode (their work cut short)",
                d.errors
            )
        }
    };
    let section = "chat layer";
    rows.push(Row {
        section,
        feed: "4 KiB".into(),
        contender: "chatstream ChatChunk+Accumulator".into(),
        bytes: input.len(),
        events: Some(typed.chunks),
        time: base,
        base: Some(base),
        allocs_per_event: Some(chat_layer),
        note: format!(
            "allocs/chunk: from_json_str {chunk_only:.2} (the typed chunk itself owns \
             {typed_blocks:.2} blocks) + Accumulator::push_owned {:.2} + into_completion {:.2} + SSE \
             {:.2}; {} decode errors",
            per_chunk(phases.push),
            per_chunk(phases.completion),
            per_chunk(phases.other),
            typed.errors
        ),
    });
    rows.push(Row {
        section,
        feed: "4 KiB".into(),
        contender: "async-openai 0.43 typed chunk".into(),
        bytes: input.len(),
        events: Some(aoai.chunks),
        time: times[1],
        base: Some(base),
        allocs_per_event: Some(per_chunk(aoai_allocs)),
        note: format!(
            "chatstream's parser + serde_json::from_str::<CreateChatCompletionStreamResponse>, \
             content appended{}",
            failed(aoai)
        ),
    });
    rows.push(Row {
        section,
        feed: "4 KiB".into(),
        contender: "borrowed serde-derive (limit)".into(),
        bytes: input.len(),
        events: Some(borrowed.chunks),
        time: times[2],
        base: Some(base),
        allocs_per_event: Some(per_chunk(borrowed_allocs)),
        note: format!(
            "chatstream's parser + a derive struct borrowing its strings, content appended{}",
            failed(borrowed)
        ),
    });
    rows.push(Row {
        section,
        feed: "4 KiB".into(),
        contender: "eventsource-stream + Value".into(),
        bytes: input.len(),
        events: Some(es_value.chunks),
        time: times[3],
        base: Some(base),
        allocs_per_event: Some(per_chunk(es_value_allocs)),
        note: "content deltas appended to a String".into(),
    });
    rows.push(Row {
        section,
        feed: "4 KiB".into(),
        contender: "chatstream sse + Value".into(),
        bytes: input.len(),
        events: Some(value.chunks),
        time: times[4],
        base: Some(base),
        allocs_per_event: Some(per_chunk(value_allocs)),
        note: "reference: untyped, same work as the peer".into(),
    });
    let vs_aoai = times[1].cpu / base.cpu;
    let vs_es_value = times[3].cpu / base.cpu;

    // ---------------------------------------------------------------- end to end
    let (body, expected) = e2e::response(config.e2e_events);
    let port = e2e::serve(body);
    // One untimed round first: page cache, the server's buffers, and a check of every client.
    let mut e2e_runs: Vec<Vec<e2e::Run>> = vec![Vec::new(); e2e::CLIENTS.len()];
    for round in 0..=config.e2e_runs {
        for (client, runs) in e2e::CLIENTS.iter().zip(&mut e2e_runs) {
            let run = e2e::run_client(client, port);
            if round > 0 {
                runs.push(run);
            }
        }
    }
    let e2e_rows: Vec<E2eRow> = e2e::CLIENTS
        .iter()
        .zip(&e2e_runs)
        .map(|(client, runs)| E2eRow::new(client, runs, expected))
        .collect();
    for row in &e2e_rows {
        if let Some(problem) = &row.problem {
            checks.push(format!("end to end: {}: {problem}", row.client));
        }
    }

    // ---------------------------------------------------------------- pathological input
    let line = input::huge_data_line(config.huge_line);
    let line_label = mib(config.huge_line);
    let one = |f: fn(&[u8], usize) -> Counts, line: &[u8], feed: usize| {
        let counts = f(line, feed);
        assert_eq!(counts.events, 1, "the huge line is one event");
    };
    let times = interleaved(
        config.runs.min(7),
        0.0,
        &mut [
            &mut || one(contenders::chatstream, black_box(&line), line.len()),
            &mut || one(contenders::chatstream, black_box(&line), 64),
            &mut || one(contenders::naive_lines, black_box(&line), line.len()),
            &mut || one(contenders::naive_lines, black_box(&line), 64),
            &mut || one(contenders::eventsource_stream, black_box(&line), line.len()),
        ],
    );
    let (cs_whole, cs_64) = (times[0], times[1]);
    let cs_line_ratio = cs_64.cpu / cs_whole.cpu;
    let section = "one huge line";
    for (contender, feed, time, base, note) in [
        ("chatstream", "whole", cs_whole, cs_whole, String::new()),
        (
            "chatstream",
            "64 B",
            cs_64,
            cs_64,
            format!("64 B / whole = {cs_line_ratio:.2}x"),
        ),
        ("naive lines()", "whole", times[2], cs_whole, String::new()),
        (
            "naive lines()",
            "64 B",
            times[3],
            cs_64,
            format!("64 B / whole = {:.2}x", times[3].cpu / times[2].cpu),
        ),
        (
            "eventsource-stream",
            "whole",
            times[4],
            cs_whole,
            String::new(),
        ),
    ] {
        rows.push(Row {
            section,
            feed: feed.into(),
            contender: format!("{contender} ({line_label})"),
            bytes: line.len(),
            events: Some(1),
            time,
            base: Some(base),
            allocs_per_event: None,
            note,
        });
    }
    // eventsource-stream re-scans the pending line on every piece: quadratic. Grow the line
    // until one run exceeds the budget, then extrapolate to the full size.
    let es_whole = times[4];
    let mut size = 64 << 10;
    let mut steps: Vec<(usize, f64)> = Vec::new();
    while size <= config.huge_line {
        let small = input::huge_data_line(size);
        let (_, sample) = time_once(|| one(contenders::eventsource_stream, &small, 64));
        steps.push((size, sample.cpu));
        if sample.cpu > config.quadratic_budget || size == config.huge_line {
            let whole = if size == config.huge_line {
                es_whole
            } else {
                let samples: Vec<Sample> = (0..3)
                    .map(|_| {
                        time_once(|| one(contenders::eventsource_stream, &small, small.len())).1
                    })
                    .collect();
                medians(&samples)
            };
            let growth = match steps.as_slice() {
                [.., (s0, t0), (s1, t1)] => (t1 / t0).log2() / (*s1 as f64 / *s0 as f64).log2(),
                _ => f64::NAN,
            };
            let measured = sample.cpu / whole.cpu;
            let mut note = format!("64 B / whole = {measured:.0}x at {}", mib(size));
            if size < config.huge_line {
                // Extrapolate the 64-byte time with the fitted exponent, and compare with the
                // measured whole-line time at full size.
                let scale = config.huge_line as f64 / size as f64;
                let full_64 = sample.cpu * scale.powf(growth);
                let _ = write!(
                    note,
                    "; time grows as size^{growth:.1}; at {line_label} ~{:.0} s, ~{:.0}x",
                    full_64,
                    full_64 / es_whole.cpu
                );
            }
            rows.push(Row {
                section,
                feed: "64 B".into(),
                contender: format!("eventsource-stream ({})", mib(size)),
                bytes: small.len(),
                events: Some(1),
                time: Medians {
                    cpu: sample.cpu,
                    wall: sample.wall,
                },
                base: None,
                allocs_per_event: None,
                note,
            });
            break;
        }
        size *= 2;
    }

    // ---------------------------------------------------------------- report
    let at = |feed: &str| sse_ratios.iter().find(|r| r.0 == feed).copied();
    let (_, ratio_64k_es, ratio_64k_limit, ratio_64k_hot, _) = at("64 KiB").expect("64 KiB row");
    let (_, ratio_64b_es, ..) = at("64 B").expect("64 B row");
    let warm_allocs: u64 = sse_ratios.iter().map(|r| r.4).sum();
    targets.push(Target::at_least(
        "SSE parse, 64 KiB feeds: CPU time vs eventsource-stream",
        ratio_64k_es,
        15.0,
        "x",
    ));
    targets.push(Target::at_least(
        "SSE parse, 64 KiB feeds: speed vs the memchr limit (one pass)",
        ratio_64k_limit,
        0.20,
        "x",
    ));
    targets.push(Target::at_least(
        "SSE parse, 64 KiB feeds: speed vs the memchr limit (cache-hot)",
        ratio_64k_hot,
        0.20,
        "x",
    ));
    targets.push(Target::at_least(
        "SSE parse, 64 B feeds: CPU time vs eventsource-stream",
        ratio_64b_es,
        7.5,
        "x",
    ));
    targets.push(Target {
        what: "SSE layer: allocations per event (warm parser, all feed sizes)".into(),
        reached: format!(
            "{warm_allocs} allocations in {} events",
            reference.events * 3
        ),
        wanted: "0".into(),
        met: warm_allocs == 0,
    });
    targets.push(Target::at_least(
        "chat layer in memory: speed vs async-openai's typed decode",
        vs_aoai,
        0.6,
        "x",
    ));
    targets.push(Target::at_least(
        "chat layer in memory: speed vs eventsource-stream + Value",
        vs_es_value,
        2.0,
        "x",
    ));
    targets.push(Target::at_most(
        "chat layer: allocations per chunk (SSE + ChatChunk + Accumulator)",
        chat_layer,
        12.0,
        "",
    ));
    targets.push(Target {
        what: "chat layer: allocations per chunk beyond decoding it (push, completion, SSE)".into(),
        reached: format!("{:.2}", chat_layer - chunk_only),
        wanted: "0".into(),
        met: chat_layer - chunk_only < 0.005,
    });
    targets.push(Target::at_most(
        &format!("{line_label} line in 64 B pieces vs whole (chatstream)"),
        cs_line_ratio,
        2.0,
        "x",
    ));
    let e2e_cpu = |client: &str| {
        e2e_rows
            .iter()
            .find(|row| row.client == client)
            .map_or(f64::NAN, |row| row.cpu)
    };
    let (cs_e2e, naive_e2e, aoai_e2e) = (
        e2e_cpu("chatstream"),
        e2e_cpu("naive"),
        e2e_cpu("async-openai"),
    );
    targets.push(Target::at_most(
        "end to end: chat_stream CPU per event vs the naive client",
        cs_e2e / naive_e2e,
        0.9,
        "x",
    ));
    targets.push(Target {
        what: "end to end: chat_stream CPU per event vs async-openai".into(),
        reached: format!("{:.2}x", cs_e2e / aoai_e2e),
        wanted: "< 1x".into(),
        met: cs_e2e < aoai_e2e,
    });

    let load_end = load_average();
    print_report(
        &config,
        &stream,
        reference,
        &rows,
        (&e2e_rows, expected),
        &targets,
        &checks,
        (load_start, load_end),
        started.elapsed().as_secs_f64(),
        measure::process_cpu_seconds() - cpu_started,
    );
}

/// One client of the end-to-end comparison: medians over its runs.
struct E2eRow {
    client: &'static str,
    /// Median CPU seconds (user + sys) of one client process.
    cpu: f64,
    user: f64,
    sys: f64,
    wall: f64,
    runs: usize,
    /// Set when a run failed or saw other chunks or content than the server sent.
    problem: Option<String>,
}

impl E2eRow {
    fn new(client: &'static str, runs: &[e2e::Run], expected: e2e::Expected) -> E2eRow {
        let median = |pick: fn(&e2e::Run) -> f64| {
            let samples: Vec<Sample> = runs
                .iter()
                .map(|run| Sample {
                    cpu: pick(run),
                    wall: 0.0,
                })
                .collect();
            medians(&samples).cpu
        };
        let wanted = if client == "start + exit" {
            e2e::Expected {
                chunks: 0,
                content_bytes: 0,
            }
        } else {
            expected
        };
        let problem = runs
            .iter()
            .find(|run| run.seen != Some(wanted))
            .map(|run| match run.seen {
                None => "the client failed (see its message above)".to_owned(),
                Some(seen) => format!("saw {seen:?}, the server sent {wanted:?}"),
            });
        E2eRow {
            client,
            cpu: median(|run| run.cpu),
            user: median(|run| run.user),
            sys: median(|run| run.sys),
            wall: median(|run| run.wall),
            runs: runs.len(),
            problem,
        }
    }
}

fn print_e2e(config: &Config, rows: &[E2eRow], expected: e2e::Expected) {
    println!();
    println!(
        "end to end over loopback: a server thread streams {} OpenAI-shaped chunks + [DONE] \
         (HTTP/1.1, one HTTP chunk per event) to one client process per run; CPU = the child's \
         user+sys from wait4, median of {} interleaved runs (after one untimed round); \
         per event = CPU / {} chunks",
        expected.chunks, config.e2e_runs, expected.chunks
    );
    let naive = rows.iter().find(|row| row.client == "naive").map(|r| r.cpu);
    let start = rows
        .iter()
        .find(|row| row.client == "start + exit")
        .map(|r| r.cpu);
    println!(
        "{:<14} {:<35} {:>12} {:>9} {:>9} {:>9} {:>8}  note",
        "section", "client", "CPU us/event", "user ms", "sys ms", "wall ms", "x naive"
    );
    for row in rows {
        let per_event = row.cpu / expected.chunks as f64 * 1e6;
        let ratio = naive.map_or("-".to_owned(), |n| format!("{:.2}", row.cpu / n));
        let (name, note) = match row.client {
            "chatstream" => ("chatstream Client::chat_stream", String::new()),
            "naive" => ("naive ureq + lines() + Value", String::new()),
            "async-openai" => (
                "async-openai 0.43 create_stream",
                "reqwest + eventsource-stream, current-thread tokio".to_owned(),
            ),
            _ => (
                "process start + exit",
                "included in every row above".to_owned(),
            ),
        };
        let note = match (&row.problem, start) {
            (Some(problem), _) => format!("{note} FAILED: {problem}"),
            (None, Some(start)) if row.client != "start + exit" => format!(
                "{:.2} us/event without start + exit{}{note}",
                (row.cpu - start) / expected.chunks as f64 * 1e6,
                if note.is_empty() { "" } else { "; " }
            ),
            (None, _) => note,
        };
        println!(
            "{:<14} {:<35} {:>12.2} {:>9.1} {:>9.1} {:>9.1} {:>8}  {}",
            "end to end",
            name,
            per_event,
            row.user * 1e3,
            row.sys * 1e3,
            row.wall * 1e3,
            ratio,
            note
        );
        debug_assert_eq!(row.runs, config.e2e_runs);
    }
}

struct Target {
    what: String,
    reached: String,
    wanted: String,
    met: bool,
}

impl Target {
    fn at_least(what: &str, value: f64, wanted: f64, unit: &str) -> Target {
        Target {
            what: what.into(),
            reached: format!("{value:.2}{unit}"),
            wanted: format!(">= {wanted}{unit}"),
            met: value >= wanted,
        }
    }
    fn at_most(what: &str, value: f64, wanted: f64, unit: &str) -> Target {
        Target {
            what: what.into(),
            reached: format!("{value:.2}{unit}"),
            wanted: format!("<= {wanted}{unit}"),
            met: value <= wanted,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn print_report(
    config: &Config,
    stream: &input::ChatStream,
    reference: Counts,
    rows: &[Row],
    e2e: (&[E2eRow], e2e::Expected),
    targets: &[Target],
    checks: &[String],
    load: (String, String),
    wall: f64,
    cpu: f64,
) {
    println!(
        "chatstream-compare{} -- {} UTC",
        if config.quick { " --quick" } else { "" },
        utc_now()
    );
    println!(
        "machine: {} x {}, {}; load average (1, 5, 15 min) at start {}, at end {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        rustc_version(),
        load.0,
        load.1
    );
    println!(
        "input: {:.1} MB chat stream = event blocks of the {} recorded fixtures ({} blocks) x {}; \
         {} events, {:.1} MB of data",
        stream.bytes.len() as f64 / 1e6,
        stream.files,
        stream.blocks,
        stream.repeats,
        reference.events,
        reference.data_bytes as f64 / 1e6
    );
    println!(
        "each time: median of {} samples of one pass each, contenders interleaved (the cache-hot \
         limit: passes back to back, >= {} ms per sample); thread CPU time (user+sys); MB/s and \
         events/s from CPU time",
        config.runs,
        config.min_sample * 1e3
    );
    println!(
        "'x chatstream' = contender CPU time / chatstream CPU time at the same feed size, same run \
         (above 1: chatstream is faster); allocs/ev: allocations per event (per chunk for the chat \
         layer), chatstream with a warm parser"
    );
    println!();
    println!(
        "{:<14} {:<6} {:<35} {:>8} {:>10} {:>9} {:>9} {:>12} {:>8}  note",
        "section",
        "feed",
        "contender",
        "MB/s",
        "events/s",
        "CPU ms",
        "wall ms",
        "x chatstream",
        "allocs/ev"
    );
    let mut last_section = "";
    for row in rows {
        if row.section != last_section && !last_section.is_empty() {
            println!();
        }
        last_section = row.section;
        let mbps = row.bytes as f64 / row.time.cpu / 1e6;
        let events = row
            .events
            .map_or("-".to_owned(), |n| si(n as f64 / row.time.cpu));
        let ratio = row
            .base
            .map_or("-".to_owned(), |b| format!("{:.2}", row.time.cpu / b.cpu));
        let allocs = row.allocs_per_event.map_or("-".to_owned(), |a| {
            if a == 0.0 {
                "0".to_owned()
            } else {
                format!("{a:.2}")
            }
        });
        println!(
            "{:<14} {:<6} {:<35} {:>8.0} {:>10} {:>9.2} {:>9.2} {:>12} {:>8}  {}",
            row.section,
            row.feed,
            row.contender,
            mbps,
            events,
            row.time.cpu * 1e3,
            row.time.wall * 1e3,
            ratio,
            allocs,
            row.note
        );
    }
    print_e2e(config, e2e.0, e2e.1);
    println!();
    println!("targets:");
    for target in targets {
        println!(
            "  {:<4} {:<66} {:>14}  (target {})",
            if target.met { "met" } else { "MISS" },
            target.what,
            target.reached,
            target.wanted
        );
    }
    for check in checks {
        println!("  note: results differ: {check}");
    }
    println!();
    println!("run: {wall:.0} s wall, {cpu:.0} s process CPU (getrusage user+sys)");
}

fn si(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.0}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

fn mib(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// The load averages as `uptime` prints them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn rustc_version() -> String {
    std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rustc unknown".into())
}

/// Current UTC date and time, `YYYY-MM-DD HH:MM`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}
