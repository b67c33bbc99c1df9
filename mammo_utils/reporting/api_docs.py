"""The service's OpenAPI schema, exported from the FastAPI app itself, and a readable offline page of it.

``reports/api/openapi.json`` is what ``GET /openapi.json`` serves (the app is built without loading a model);
``reports/api/index.html`` lists every route with its summary, parameters, request body and responses, with no
script or stylesheet from the network (Swagger UI would need a CDN at view time).
"""

from __future__ import annotations

import html
from pathlib import Path

from ..utils import to_json, write_atomic


def openapi_schema(export_dir: str | Path | None = None) -> dict:
    """The API's OpenAPI document (the app is created but not started: no model is loaded).

    Args:
        export_dir: The export the document describes: the scoring routes' 200 examples then carry its model,
            threshold and detector (:func:`~mammo_utils.serving.api.schemas.fill_examples`; read from its
            ``model.json``). None: illustrative examples, said in each example's description.

    Returns:
        The OpenAPI document.
    """
    from ..serving.api import ServiceSettings, create_app
    from ..serving.api.schemas import fill_examples
    from ..serving.inference import describe_export

    schema = create_app(ServiceSettings()).openapi()
    return fill_examples(schema, describe_export(export_dir)) if export_dir is not None else schema


def _schema_name(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_name(s) for s in schema["anyOf"])
    return schema.get("type", "object")


def _fields_html(schema: dict, prefix: str = "") -> list[str]:
    """Each described field of an inline body schema (``images[].heatmap_note`` inside a list), as HTML items."""
    items = []
    for name, field in schema.get("properties", {}).items():
        if field.get("type") == "array":
            items += _fields_html(field.get("items", {}), f"{prefix}{name}[].")
        elif field.get("description"):
            items.append(
                f"<li><code>{html.escape(prefix + name)}</code> ({html.escape(_schema_name(field))}): "
                f"{html.escape(field['description'])}</li>"
            )
    return items


def _response_html(code: str, response: dict) -> str:
    """One response: status, description, body model (or its described fields), and each example with its
    description (what is real in it).

    Args:
        code: The status.
        response: Its OpenAPI response object.

    Returns:
        HTML text.
    """
    content = response.get("content", {}).get("application/json", {})
    model = content.get("schema", {})
    fields = _fields_html(model)
    body = (
        f" → <code>{html.escape(_schema_name(model))}</code>"
        if "$ref" in model
        else f"<ul>{''.join(fields)}</ul>"
        if fields
        else ""
    )
    examples = "".join(  # each on its own line, apart from the text before it (also in a text-only reading)
        f"\n<br><details><summary>example ({html.escape(e.get('summary', name))})</summary>"
        f"<p>{html.escape(e.get('description', ''))}</p><pre>{html.escape(to_json(e.get('value'), indent=1))}</pre>"
        "</details>"
        for name, e in content.get("examples", {}).items()
    )
    description = html.escape(response.get("description", "")).rstrip(".")
    return f"<b>{code}</b> {description}.{body}{examples}" if description else f"<b>{code}</b>{body}{examples}"


def render_html(schema: dict) -> str:
    """One self-contained HTML page describing the schema's routes and models."""
    info = schema.get("info", {})
    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            params = ", ".join(
                f"{p['name']} ({p.get('in')}{', required' if p.get('required') else ''}: "
                f"{_schema_name(p.get('schema', {}))})" + (f": {p['description']}" if p.get("description") else "")
                for p in op.get("parameters", [])
            )
            body = op.get("requestBody", {}).get("content", {})
            body_text = ", ".join(f"{ctype}: {_schema_name(v.get('schema', {}))}" for ctype, v in body.items())
            responses = "<br>".join(_response_html(code, r) for code, r in op.get("responses", {}).items())
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}</td><td>{html.escape(params) or '–'}</td>"
                f"<td>{html.escape(body_text) or '–'}</td><td>{responses}</td></tr>"
            )
    models = []
    for name, model in schema.get("components", {}).get("schemas", {}).items():
        fields = ", ".join(
            f"{k}: {_schema_name(v)}" for k, v in model.get("properties", {}).items()
        )  # fmt: skip
        models.append(f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(fields)}</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(info.get("title", "API"))} – API reference</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:14px}}th{{background:#f0f0f0}}
pre{{white-space:pre-wrap;font-size:12px;max-height:30em;overflow:auto}}</style></head>
<body><h1>{html.escape(info.get("title", "API"))} {html.escape(str(info.get("version", "")))}</h1>
<p>{html.escape(info.get("description", ""))}</p>
<p>Generated from the FastAPI application by <code>mammo report</code>; machine-readable schema:
<a href="openapi.json">openapi.json</a>. A running service also serves it at <code>/openapi.json</code> and an
interactive page at <code>/docs</code>.</p>
<h2>Routes</h2><table><tr><th>method</th><th>path</th><th>summary</th><th>parameters</th><th>body</th>
<th>responses</th></tr>{"".join(rows)}</table>
<h2>Models</h2><table><tr><th>name</th><th>fields</th></tr>{"".join(models)}</table></body></html>
"""


def export_api_docs(folder: str | Path, export_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``openapi.json`` and ``index.html`` into ``folder`` (atomically).

    Args:
        folder: Output folder.
        export_dir: The export being reported: its model fills the examples (:func:`openapi_schema`).

    Returns:
        ``(schema path, page path)``.
    """
    folder = Path(folder)
    schema = openapi_schema(export_dir)
    write_atomic(folder / "openapi.json", (to_json(schema, indent=1, sort_keys=True) + "\n").encode())
    write_atomic(folder / "index.html", render_html(schema).encode())
    return folder / "openapi.json", folder / "index.html"
