"""The graded tests of an exercise reject plausible wrong answers, not only the blank stub.

`test_lessons.py` proves that every test fails on the blank lesson and passes on the solution; that alone
would let a test through that checks only shapes. Here each exercise's test cell (visible and hidden tests,
exactly as in solutions/) runs in-process after the lesson's import cell and the solution cells it builds
on, once with the model solution (it must pass) and once with each wrong answer a student could
plausibly write (it must fail). No notebook kernel and no nbgrader: each case takes a second or less.
"""
from __future__ import annotations

import contextlib
import io

import nbformat
import pytest

from conftest import cell_by_grade_id
from lecturelib.grading.lessons import find_course

COURSE = find_course()


def _namespace(lesson: str, solutions: list[str]) -> dict:
    """Run the lesson's first code cell (its imports) and the named solution cells; return the globals."""
    nb = nbformat.read(COURSE.source_notebook(lesson), as_version=4)
    ns: dict = {"__name__": "__main__"}
    first = next(c for c in nb.cells if c.cell_type == "code")
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(first.source, f"{lesson}:imports", "exec"), ns)
        for gid in solutions:
            exec(compile(cell_by_grade_id(nb, gid).source, f"{lesson}:{gid}", "exec"), ns)
    return ns


def _run_test_cell(lesson: str, ns: dict, test_id: str) -> None:
    nb = nbformat.read(COURSE.source_notebook(lesson), as_version=4)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(cell_by_grade_id(nb, test_id).source, f"{lesson}:{test_id}", "exec"), ns)


# --- lesson 05: the sinusoidal positional encoding --------------------------------------------------

PE_HEAD = "def sinusoidal_positional_encoding(num_positions, d_model):\n" \
          "    t = torch.arange(num_positions, dtype=torch.float32)[:, None]\n"
PE_WRONG = {
    "sine and cosine swapped": PE_HEAD + """
    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    pe = torch.zeros(num_positions, d_model)
    pe[:, 0::2] = torch.cos(t * omega)
    pe[:, 1::2] = torch.sin(t * omega)
    return pe
""",
    "one frequency per dimension, not per pair": PE_HEAD + """
    omega = 10000.0 ** (-torch.arange(d_model, dtype=torch.float32) / d_model)
    angle = t * omega
    pe = torch.zeros(num_positions, d_model)
    pe[:, 0::2] = torch.sin(angle[:, 0::2])
    pe[:, 1::2] = torch.cos(angle[:, 1::2])
    return pe
""",
    "exponent i/d instead of 2i/d": PE_HEAD + """
    omega = 10000.0 ** (-torch.arange(d_model // 2, dtype=torch.float32) / d_model)
    pe = torch.zeros(num_positions, d_model)
    pe[:, 0::2] = torch.sin(t * omega)
    pe[:, 1::2] = torch.cos(t * omega)
    return pe
""",
    "sines then cosines (two halves, not interleaved)": PE_HEAD + """
    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    return torch.cat([torch.sin(t * omega), torch.cos(t * omega)], dim=1)
""",
    "positions counted from 1": """
def sinusoidal_positional_encoding(num_positions, d_model):
    t = torch.arange(1, num_positions + 1, dtype=torch.float32)[:, None]
    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    pe = torch.zeros(num_positions, d_model)
    pe[:, 0::2] = torch.sin(t * omega)
    pe[:, 1::2] = torch.cos(t * omega)
    return pe
""",
}

# --- lesson 05: the decoder block with cross-attention ----------------------------------------------

DB_HEAD = """
def decoder_block(block, x, memory, memory_mask=None):
    def attend(a, x_q, x_kv, mask):
        return multi_head_attention(x_q, x_kv, a.in_proj_weight, a.in_proj_bias, a.out_proj.weight,
                                    a.out_proj.bias, a.n_heads, mask)
    h = block.ln_1(x)
"""
DB_WRONG = {
    "keys and values of the cross-attention from the decoder": DB_HEAD + """
    x = x + attend(block.attn, h, h, causal_mask(x.shape[1]))
    mask = None if memory_mask is None else memory_mask[:, None, None, :]
    q = block.ln_cross(x)
    x = x + attend(block.cross_attn, q, q, None)
    return x + block.ffn(block.ln_2(x))
""",
    "queries from the encoder, keys and values from the decoder": DB_HEAD + """
    x = x + attend(block.attn, h, h, causal_mask(x.shape[1]))
    mask = None if memory_mask is None else memory_mask[:, :, None]
    x = x + attend(block.cross_attn, memory, block.ln_cross(x), mask)
    return x + block.ffn(block.ln_2(x))
""",
    "the padding mask ignored": DB_HEAD + """
    x = x + attend(block.attn, h, h, causal_mask(x.shape[1]))
    x = x + attend(block.cross_attn, block.ln_cross(x), memory, None)
    return x + block.ffn(block.ln_2(x))
""",
    "the padding mask broadcast over the heads instead of the batch": DB_HEAD + """
    x = x + attend(block.attn, h, h, causal_mask(x.shape[1]))
    mask = None if memory_mask is None else memory_mask[:, None, :]
    x = x + attend(block.cross_attn, block.ln_cross(x), memory, mask)
    return x + block.ffn(block.ln_2(x))
""",
    "no causal mask in the self-attention": DB_HEAD + """
    x = x + attend(block.attn, h, h, None)
    mask = None if memory_mask is None else memory_mask[:, None, None, :]
    x = x + attend(block.cross_attn, block.ln_cross(x), memory, mask)
    return x + block.ffn(block.ln_2(x))
""",
    "cross-attention queries not normalised (LN_cross skipped)": DB_HEAD + """
    x = x + attend(block.attn, h, h, causal_mask(x.shape[1]))
    mask = None if memory_mask is None else memory_mask[:, None, None, :]
    x = x + attend(block.cross_attn, x, memory, mask)
    return x + block.ffn(block.ln_2(x))
""",
    "attention without the 1/sqrt(d_k) scale": """
def decoder_block(block, x, memory, memory_mask=None):
    def attend(a, x_q, x_kv, mask):
        d, h = x_q.shape[-1], a.n_heads
        W_q, W_k, W_v = a.in_proj_weight.chunk(3)
        b_q, b_k, b_v = a.in_proj_bias.chunk(3)
        split = lambda t: t.view(t.shape[0], t.shape[1], h, d // h).transpose(1, 2)
        q, k, v = split(F.linear(x_q, W_q, b_q)), split(F.linear(x_kv, W_k, b_k)), split(F.linear(x_kv, W_v, b_v))
        scores = q @ k.transpose(-2, -1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(x_q.shape)
        return F.linear(y, a.out_proj.weight, a.out_proj.bias)
    h = block.ln_1(x)
    x = x + attend(block.attn, h, h, causal_mask(x.shape[1]))
    mask = None if memory_mask is None else memory_mask[:, None, None, :]
    x = x + attend(block.cross_attn, block.ln_cross(x), memory, mask)
    return x + block.ffn(block.ln_2(x))
""",
}

CASES = [("05_transformers", "sinusoidal_positional_encoding", [], PE_WRONG),
         ("05_transformers", "decoder_block", ["attention", "causal_mask", "multi_head_attention"], DB_WRONG)]


@pytest.mark.parametrize("lesson, exercise, needs, wrong", CASES, ids=[c[1] for c in CASES])
def test_the_solution_passes_its_tests(lesson, exercise, needs, wrong):
    ns = _namespace(lesson, needs + [exercise])
    _run_test_cell(lesson, ns, "test_" + exercise)


@pytest.mark.parametrize("lesson, exercise, needs, name, source",
                         [(l, e, n, name, src) for l, e, n, w in CASES for name, src in w.items()],
                         ids=[f"{e}: {name}" for _, e, _, w in CASES for name in w])
def test_a_wrong_answer_fails_its_tests(lesson, exercise, needs, name, source):
    ns = _namespace(lesson, needs)
    exec(compile(source, f"wrong {exercise}", "exec"), ns)
    with pytest.raises(Exception) as failure:
        _run_test_cell(lesson, ns, "test_" + exercise)
    # an assertion, or an error the student's code raised on the tests' inputs; never a bug in the test itself
    assert not isinstance(failure.value, (NameError, SyntaxError)), failure.value


def test_at_least_two_wrong_answers_per_exercise():
    assert all(len(wrong) >= 2 for *_, wrong in CASES)
