#!/usr/bin/env python3
"""Writes the tiny random-weight GGUF model used by the e2e tests.

    python gen_model.py OUT.gguf

A llama-architecture model (2 blocks, hidden size 64, 4 heads, FFN 128, all
tensors F32) with a SentencePiece-style ("llama") tokenizer: control tokens,
byte fallback and about 100 English word pieces, plus a ChatML chat template
with Hermes/Qwen2.5-style <tool_call> tool calls. The weights come from a
fixed seed, so every run writes the same bytes.

A few weights are set by hand so that tests can force behaviours with
`logit_bias`: the output rows of EOS (<|im_end|>, id 4), <tool_call> (id 5),
every other control token, every byte token except <0x0A> ("\\n") and the
"," piece get a large negative logit (about 45 below the likeliest token), so the
model never samples them by itself, while a bias of +100 always picks them:

    logit_bias {"4": 100}                -> immediate stop, content ""
    tools + logit_bias {"5": 100}        -> exactly one tool call
    no bias                              -> runs until max_tokens ("length")

How: dimension 0 of the residual stream is a constant. Every token embedding
has the value EMBED_CONST there, and no block writes to it (row 0 of
attn_output and ffn_down is zero), so after the final RMS norm dimension 0 is
always clearly positive. The output rows of the suppressed
tokens are zero except for -SUPPRESS in dimension 0; the other rows are random
with 0 in dimension 0.
"""

import hashlib
import os
import sys

import numpy as np
import gguf

SEED = 20240611
N_EMBD = 64
N_HEAD = 4
N_FF = 128
N_LAYER = 2
N_CTX = 4096
EMBED_CONST = 8.0
SUPPRESS = 10.0
OUTPUT_SCALE = 0.3

EOS_ID = 4
TOOL_CALL_ID = 5

# Control / special tokens, in id order. (type, text)
SPECIAL_TOKENS = [
    (gguf.TokenType.UNKNOWN, "<unk>"),
    (gguf.TokenType.CONTROL, "<s>"),
    (gguf.TokenType.CONTROL, "</s>"),
    (gguf.TokenType.CONTROL, "<|im_start|>"),
    (gguf.TokenType.CONTROL, "<|im_end|>"),
    # Rendered as text (like Qwen2.5's added tokens), so the server's tool-call
    # parser sees them in the generated text.
    (gguf.TokenType.USER_DEFINED, "<tool_call>"),
    (gguf.TokenType.USER_DEFINED, "</tool_call>"),
    (gguf.TokenType.CONTROL, "<|pad|>"),
]

# English word pieces. Each is in the vocabulary twice: with the SentencePiece
# space marker (word start) and without (word continuation).
WORDS = """
the a an of to in on at by for with from and or not is are was be it this that
as if then else when what which who how why all any some more most other one
two three four five six seven eight nine ten first last next new old good small
big long short high low time day year way part place case point number hello
world test tests stream streams server client chat model token tokens delta
event data done stop tool call calls result value name text message reply answer
about after before again only just very also here there fast slow
""".split()

# JSON and markup fragments that help the grammar-constrained output.
FRAGMENTS = ['{"', '"}', '":', ' "', '": ', '{}', '[]', 'true', 'false',
             'null', 'name', 'arguments', '_', '</', '/>', '[{']

SPACE = "\u2581"  # SentencePiece's word-boundary marker


def build_vocab():
    tokens, types, scores = [], [], []

    def add(text, ttype, score=0.0):
        tokens.append(text)
        types.append(int(ttype))
        scores.append(float(score))

    for ttype, text in SPECIAL_TOKENS:
        add(text, ttype)
    for b in range(256):
        add(f"<0x{b:02X}>", gguf.TokenType.BYTE)
    seen = set(tokens)

    def add_piece(text):
        if text in seen:
            return
        seen.add(text)
        # SentencePiece prefers the highest score; favour longer pieces.
        add(text, gguf.TokenType.NORMAL, float(len(text)) - len(tokens) * 1e-4)

    add_piece(SPACE)
    for code in range(0x21, 0x7F):  # printable ASCII except space
        add_piece(chr(code))
    for word in WORDS:
        add_piece(SPACE + word)
        add_piece(word)
    for frag in FRAGMENTS:
        add_piece(frag.replace(" ", SPACE))
    return tokens, types, scores


def suppressed_ids(tokens, types):
    ids = []
    for i, (text, ttype) in enumerate(zip(tokens, types)):
        if ttype == gguf.TokenType.BYTE:
            if text != "<0x0A>":
                ids.append(i)
        elif ttype != gguf.TokenType.NORMAL:
            ids.append(i)
        elif text == ",":
            ids.append(i)
    return ids


# ChatML with Hermes/Qwen2.5-style tool calls, written for this project.
CHAT_TEMPLATE = """\
{%- set ns = namespace(system='') -%}
{%- if messages and messages[0]['role'] == 'system' -%}
{%- set ns.system = messages[0]['content'] -%}
{%- endif -%}
{%- if tools -%}
<|im_start|>system
{% if ns.system %}{{ ns.system }}

{% endif %}# Tools

You may call functions. Their signatures are inside <tools></tools>:
<tools>
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}</tools>

To call a function, answer with a JSON object holding its name and arguments inside <tool_call></tool_call> tags (separate several calls with ", "):
<tool_call>{"name": <function-name>, "arguments": <arguments-json-object>}</tool_call><|im_end|>
{% elif ns.system -%}
<|im_start|>system
{{ ns.system }}<|im_end|>
{% endif -%}
{%- for message in messages -%}
{%- if message['role'] == 'system' and loop.first -%}
{%- elif message['role'] == 'user' or message['role'] == 'system' -%}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% elif message['role'] == 'assistant' -%}
<|im_start|>assistant
{% if message['content'] %}{{ message['content'] }}{% endif %}
{%- if message['tool_calls'] -%}
{%- if message['content'] %}
{% endif -%}
<tool_call>
{%- for call in message['tool_calls'] -%}
{%- if call['function'] is defined -%}{%- set fn = call['function'] -%}{%- else -%}{%- set fn = call -%}{%- endif -%}
{%- if not loop.first %}, {% endif -%}
{"name": "{{ fn['name'] }}", "arguments": {% if fn['arguments'] is string %}{{ fn['arguments'] }}{% else %}{{ fn['arguments'] | tojson }}{% endif %}}
{%- endfor -%}
</tool_call>
{%- endif -%}
<|im_end|>
{% elif message['role'] == 'tool' -%}
{%- if loop.first or messages[loop.index0 - 1]['role'] != 'tool' -%}
<|im_start|>user
{% endif -%}
<tool_response>
{{ message['content'] }}
</tool_response>
{% if loop.last or messages[loop.index0 + 1]['role'] != 'tool' -%}
<|im_end|>
{% endif -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%}
"""


def build_tensors(n_vocab, suppressed):
    rng = np.random.default_rng(SEED)

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    tensors = {}
    embd = normal((n_vocab, N_EMBD), 1.0)
    embd[:, 0] = EMBED_CONST
    tensors["token_embd.weight"] = embd
    for layer in range(N_LAYER):
        p = f"blk.{layer}."
        tensors[p + "attn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        tensors[p + "attn_q.weight"] = normal((N_EMBD, N_EMBD), N_EMBD ** -0.5)
        tensors[p + "attn_k.weight"] = normal((N_EMBD, N_EMBD), N_EMBD ** -0.5)
        tensors[p + "attn_v.weight"] = normal((N_EMBD, N_EMBD), N_EMBD ** -0.5)
        attn_out = normal((N_EMBD, N_EMBD), N_EMBD ** -0.5)
        attn_out[0, :] = 0.0  # never write the constant dimension
        tensors[p + "attn_output.weight"] = attn_out
        tensors[p + "ffn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        tensors[p + "ffn_gate.weight"] = normal((N_FF, N_EMBD), N_EMBD ** -0.5)
        tensors[p + "ffn_up.weight"] = normal((N_FF, N_EMBD), N_EMBD ** -0.5)
        ffn_down = normal((N_EMBD, N_FF), N_FF ** -0.5)
        ffn_down[0, :] = 0.0
        tensors[p + "ffn_down.weight"] = ffn_down
    tensors["output_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
    output = normal((n_vocab, N_EMBD), OUTPUT_SCALE)
    output[:, 0] = 0.0
    output[suppressed, :] = 0.0
    output[suppressed, 0] = -SUPPRESS
    tensors["output.weight"] = output
    return tensors


def write_model(path):
    tokens, types, scores = build_vocab()
    assert tokens[EOS_ID] == "<|im_end|>" and tokens[TOOL_CALL_ID] == "<tool_call>"
    n_vocab = len(tokens)
    tensors = build_tensors(n_vocab, suppressed_ids(tokens, types))

    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny-random-llama")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(EOS_ID)
    w.add_pad_token_id(7)
    w.add_add_bos_token(False)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)
    w.add_chat_template(CHAT_TEMPLATE)

    for name, data in tensors.items():
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return n_vocab, sum(t.size for t in tensors.values())


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT.gguf", file=sys.stderr)
        return 2
    out = argv[1]
    tmp = out + ".tmp"
    n_vocab, n_params = write_model(tmp)
    os.replace(tmp, out)
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"wrote {out}: vocab {n_vocab}, {n_params} parameters, "
          f"{os.path.getsize(out)} bytes, sha256 {digest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
