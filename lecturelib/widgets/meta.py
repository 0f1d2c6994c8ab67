"""Widgets of lesson 02 (meta-learning): the pizza guess and the "which marker is the best θ?" quiz."""
from __future__ import annotations

from fractions import Fraction

from ..meta.tasks import PIZZA_ANSWER, PIZZA_QUERY, PIZZA_SUPPORT

__all__ = ["pizza_guess", "rule_for_guess", "theta_quiz", "quiz_table"]

_MONOMIALS = ("1", "a", "b", "a²", "a·b", "b²")


def _monomials(a, b) -> list[Fraction]:
    a, b = Fraction(a), Fraction(b)
    return [Fraction(1), a, b, a * a, a * b, b * b]


def _solve_exact(rows: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction] | None:
    """Gauss-Jordan elimination in exact fractions; None when the square system is singular."""
    n = len(rows)
    m = [list(r) + [v] for r, v in zip(rows, rhs)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if m[r][col] != 0), None)
        if pivot is None:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        m[col] = [v / m[col][col] for v in m[col]]
        for r in range(n):
            if r != col and m[r][col] != 0:
                m[r] = [vr - m[r][col] * vc for vr, vc in zip(m[r], m[col])]
    return [m[r][n] for r in range(n)]


def _fmt(c: Fraction) -> str:
    return str(c.numerator) if c.denominator == 1 else f"{c.numerator}/{c.denominator}"


def rule_for_guess(guess) -> tuple[list[Fraction], str]:
    """A rule that fits all four slide examples *and* gives 4 🍕 6 = ``guess``, exactly:

        a 🍕 b = a·(b + 1) + (guess - 28)·s(a, b),

    with s a quadratic that is 0 on the four examples and 1 at (4, 6). Returns the rule's coefficients
    on (1, a, b, a², a·b, b²) as fractions, and a readable formula. Four examples never pin down a
    rule on their own; what makes 28 *the* answer is a prior over rules, which meta-learning learns.
    """
    points = [(a, b) for a, b, _ in PIZZA_SUPPORT] + [PIZZA_QUERY]
    rhs = [Fraction(0)] * len(PIZZA_SUPPORT) + [Fraction(1)]
    shape = None
    for drop in (5, 3, 0, 1, 2, 4):        # five conditions, six coefficients: set one to zero
        keep = [j for j in range(6) if j != drop]
        sol = _solve_exact([[_monomials(a, b)[j] for j in keep] for a, b in points], rhs)
        if sol is not None:
            shape = [Fraction(0)] * 6
            for j, v in zip(keep, sol):
                shape[j] = v
            break
    pizza = [Fraction(0), Fraction(1), Fraction(0), Fraction(0), Fraction(1), Fraction(0)]   # a + a·b
    delta = Fraction(guess).limit_denominator(1000) - PIZZA_ANSWER
    coeffs = [p + delta * c for p, c in zip(pizza, shape)]
    terms = []
    for c, mono in zip(coeffs, _MONOMIALS):
        if c == 0:
            continue
        mag = abs(c)
        body = _fmt(mag) if mono == "1" else (mono if mag == 1 else f"({_fmt(mag)})·{mono}" if mag.denominator != 1
                                                else f"{_fmt(mag)}·{mono}")
        terms.append(("-" if c < 0 else "+", body))
    if not terms:
        return coeffs, "0"
    text = ("-" if terms[0][0] == "-" else "") + terms[0][1]
    for sign, body in terms[1:]:
        text += f" {sign} {body}"
    return coeffs, text


def pizza_guess():
    """A text box for the student's answer to 4 🍕 6 and a button that locks it in.

    Nothing is revealed before the button is pressed. Returns the widget; ``widget.guess`` is the
    locked-in number (None before), ``widget.submit()`` presses the button, ``widget.message`` is the
    text shown after it."""
    import ipywidgets as widgets

    box_text = widgets.Text(placeholder="your answer", description="4 🍕 6 =", layout=widgets.Layout(width="220px"))
    button = widgets.Button(description="Lock in my guess", button_style="primary")
    out = widgets.Output()
    box = widgets.VBox([widgets.HBox([box_text, button]), out])
    box.guess, box.message, box.text, box.button = None, "", box_text, button

    def submit(*_):
        raw = box_text.value.strip()
        try:
            guess = float(raw)
        except ValueError:
            box.message = f"'{raw}' is not a number: type a number, then press the button."
        else:
            box.guess = int(guess) if guess == int(guess) else guess
            box_text.disabled = button.disabled = True
            if box.guess == PIZZA_ANSWER:
                box.message = (f"You answered {box.guess}, like most people: a 🍕 b = a·(b + 1) fits all four "
                               "examples (3·6 = 18, 1·3 = 3, 2·4 = 8, 6·2 = 12), so 4 🍕 6 = 4·7 = 28.")
            else:
                _, rule = rule_for_guess(box.guess)
                box.message = (f"You answered {box.guess}. Most people answer 28, from a 🍕 b = a·(b + 1). "
                               f"Yet your answer fits the four examples too, e.g. with a 🍕 b = {rule}. "
                               "Four examples never decide a rule alone: the prior over rules does.")
        with out:
            out.clear_output()
            print(box.message)

    button.on_click(submit)
    box.submit = submit
    return box


def quiz_table(tasks, markers: dict, inner_lr: float) -> dict:
    """For each marker θ: the average loss at θ and after one step θ - α ∇L_i(θ) on every task."""
    import torch

    from ..meta.landscape import one_step

    table = {}
    for name, theta in markers.items():
        theta = torch.as_tensor(theta, dtype=torch.float64)
        before = float(sum(t.loss(theta) for t in tasks) / len(tasks))
        after = float(sum(t.loss(one_step(t, theta, inner_lr)) for t in tasks) / len(tasks))
        table[name] = {"before": before, "after one step": after}
    return table


def theta_quiz(tasks=None, markers: dict | None = None, inner_lr: float | None = None, *, lim: float = 3.0):
    """The slide's quiz: contour lines of each task's loss, candidate markers A–D, pick one, check.

    Returns the widget; ``widget.choice`` is the radio-button group, ``widget.check()`` presses
    "Check", and ``widget.result`` then holds the chosen letter, the best letter and the table of
    :func:`quiz_table`."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from .. import plotting
    from ..meta.landscape import QUIZ_INNER_LR, grid_losses, one_step, quiz_markers, quiz_tasks

    tasks = tasks or quiz_tasks()
    inner_lr = QUIZ_INNER_LR if inner_lr is None else inner_lr
    markers = markers or quiz_markers(tasks, inner_lr)
    choice = widgets.RadioButtons(options=list(markers), description="best θ:", value=None)
    button = widgets.Button(description="Check", button_style="primary")
    out = widgets.Output()
    box = widgets.VBox([out, widgets.HBox([choice, button])])
    box.choice, box.button, box.result = choice, button, None

    def draw(show_steps_from=None):
        with out:
            out.clear_output(wait=True)
            xs, ys, losses = grid_losses(tasks, lim=lim)
            ax = plotting.landscape(
                xs, ys, {t.name or f"task {i + 1}": L for i, (t, L) in enumerate(zip(tasks, losses))},
                optima={t.name or f"task {i + 1}": t.center for i, t in enumerate(tasks)},
                markers=markers, title="Which marker is the best candidate for θ?", xlabel="θ₁", ylabel="θ₂")
            if show_steps_from is not None:
                import torch

                theta = torch.as_tensor(markers[show_steps_from], dtype=torch.float64)
                for i, t in enumerate(tasks):
                    end = one_step(t, theta, inner_lr)
                    ax.annotate("", xy=end.tolist(), xytext=theta.tolist(),
                                arrowprops=dict(arrowstyle="->", color=f"C{i}", lw=1.5))
            plt.show()

    def check(*_):
        table = quiz_table(tasks, markers, inner_lr)
        best = min(table, key=lambda k: table[k]["after one step"])
        box.result = {"chosen": choice.value, "best": best, "table": table}
        draw(show_steps_from=choice.value or best)
        with out:
            verdict = ("right" if choice.value == best else
                       "not quite" if choice.value is not None else "no marker picked")
            print(f"Your pick: {choice.value} ({verdict}). Arrows: one gradient step (α = {inner_lr}) on each task.")
            print(f"{'marker':>6} | {'mean loss at θ':>14} | {'after one step':>14}")
            for name, row in table.items():
                star = "  ← best after adaptation" if name == best else ""
                print(f"{name:>6} | {row['before']:14.3f} | {row['after one step']:14.3f}{star}")

    button.on_click(check)
    box.check = check
    draw()
    return box
