"""ipywidgets on a static page: each widget drawn, in plain HTML, as its state was when the run ended.

An executed notebook keeps every widget's last state in ``metadata.widgets`` and, in the output, only a
reference to it (``application/vnd.jupyter.widget-view+json``). Rendering that reference needs the
ipywidgets JavaScript, which the usual tools load from a CDN; the site must work offline, so each view is
replaced by a frozen HTML picture of the widget tree: images as images, HTML and labels as text, progress
bars as bars, buttons, sliders and choices as disabled controls showing their value. It is a picture,
not an interactive widget; the page says so and links the notebook.
"""
from __future__ import annotations

import html

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
PREFIX = "IPY_MODEL_"


def widget_states(nb) -> dict:
    """``{model_id: {"model_name": ..., "state": {...}}}`` saved in the notebook (empty if none)."""
    return nb.metadata.get("widgets", {}).get(STATE, {}).get("state", {})


def static_html(model_id: str, states: dict) -> str:
    """The frozen HTML of one widget view and its children."""
    body = _render(model_id, states, depth=0)
    return f'<div class="course-widget" title="widget state at the end of the run">{body}</div>'


def _children(state: dict, states: dict, depth: int) -> str:
    return "".join(_render(ref, states, depth + 1) for ref in state.get("children", []))


def _render(ref: str, states: dict, depth: int) -> str:
    model = states.get(ref.removeprefix(PREFIX)) if isinstance(ref, str) else None
    if model is None or depth > 30:
        return ""
    name, s = model.get("model_name", ""), model.get("state", {})
    label = html.escape(str(s.get("description", "")))
    value = s.get("value")
    if name in ("VBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel", "StackModel"):
        return f'<div style="display:flex;flex-direction:column;gap:4px">{_children(s, states, depth)}</div>'
    if name == "HBoxModel":
        return (f'<div style="display:flex;flex-direction:row;gap:8px;align-items:center;flex-wrap:wrap">'
                f'{_children(s, states, depth)}</div>')
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<div>{label + ' ' if label else ''}{value or ''}</div>"   # the widget's own HTML, as shown
    if name == "LabelModel":
        return f"<span>{html.escape(str(value or ''))}</span>"
    if name == "ImageModel":
        fmt = html.escape(str(s.get("format", "png")))
        # nbclient saves the image bytes as a base64 buffer beside the state
        data = next((b.get("data", "") for b in model.get("buffers", []) if b.get("path") == ["value"]), "")
        width = f' width="{html.escape(str(s["width"]))}"' if s.get("width") else ""
        return f'<img alt="widget image" src="data:image/{fmt};base64,{data}"{width}>' if data else ""
    if name in ("FloatProgressModel", "IntProgressModel"):
        lo, hi = float(s.get("min", 0)), float(s.get("max", 100)) or 1.0
        frac = 0.0 if hi == lo else max(0.0, min(1.0, (float(value or 0) - lo) / (hi - lo)))
        return f'<progress value="{frac:.3f}" max="1" style="width:12em"></progress>'
    if name == "ButtonModel":
        return f"<button disabled>{label or html.escape(str(s.get('icon', 'button')))}</button>"
    if name == "OutputModel":
        return "".join(_output_html(o) for o in s.get("outputs", []))
    if name in ("TextModel", "TextareaModel", "FloatTextModel", "IntTextModel"):
        shown = html.escape(str(value if value not in (None, "") else s.get("placeholder", "")))
        return f'<label>{label} <input disabled value="{shown}"></label>'
    if "Slider" in name or name in ("DropdownModel", "RadioButtonsModel", "ToggleButtonsModel",
                                    "SelectModel", "CheckboxModel", "ToggleButtonModel"):
        shown = value
        options = s.get("_options_labels")
        if options is not None and isinstance(s.get("index"), int) and 0 <= s["index"] < len(options):
            shown = options[s["index"]]
        return f"<span>{label} <b>{html.escape(str(shown))}</b></span>"
    return ""   # style and layout models draw nothing themselves


def _output_html(output: dict) -> str:
    data = output.get("data", {})
    if "image/png" in data:
        return f'<img alt="figure" src="data:image/png;base64,{data["image/png"]}">'
    if "text/html" in data:
        return "".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"]
    text = output.get("text") or data.get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else text
    return f"<pre>{html.escape(text)}</pre>" if text else ""


def freeze_views(nb) -> int:
    """Replace every widget view in ``nb``'s outputs by its frozen HTML; returns how many were replaced."""
    states, count = widget_states(nb), 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if VIEW not in data:
                continue
            model_id = data[VIEW].get("model_id", "")
            frozen = static_html(model_id, states) if model_id in states else ""
            if not frozen:   # no saved state: say what was there instead of a bare repr
                frozen = '<p class="course-widget"><i>(an interactive widget: open the notebook to use it)</i></p>'
            output["data"] = {"text/html": frozen}
            count += 1
    nb.metadata.pop("widgets", None)   # nothing on the page reads it any more
    return count
