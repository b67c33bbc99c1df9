"""What the OpenAPI document promises about the scoring routes, checked against the app without starting it:
every refusal a handler can answer is declared with the error body, and the 200 examples say where their values
come from (the export being documented, or illustrative).

The statuses a running server really answers are checked against this document in ``test_api.py``.
"""

from __future__ import annotations

import pytest


def _schema():
    from mammo_utils.serving.api import ServiceSettings, create_app

    return create_app(ServiceSettings()).openapi()


def _example(schema: dict, path: str) -> dict:
    return schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["examples"]["example"]


def test_upload_routes_declare_each_refusal_with_the_error_body():
    schema = _schema()
    predict = schema["paths"]["/v1/predict"]["post"]["responses"]
    studies = schema["paths"]["/v1/studies"]["post"]["responses"]
    # /v1/predict refuses the upload itself; /v1/studies reports a file's 400/415 inside its 200 (each image's
    # `status`, tested in test_api.py) and refuses the whole request only for the token, the size or load
    assert set(predict) == {"200", "400", "401", "413", "415", "422", "500", "503"}
    assert set(studies) == {"200", "401", "413", "422", "500", "503"}
    assert "400 or 415" in studies["200"]["description"]
    for responses in (predict, studies):
        for code, response in responses.items():
            if code not in ("200", "422"):
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorDetail"}, code
    assert schema["components"]["schemas"]["ErrorDetail"]["required"] == ["detail"]
    assert "Retry-After" in predict["503"]["headers"] and "Retry-After" in studies["503"]["headers"]


def test_the_heatmap_is_documented_as_not_a_localisation():
    from mammo_utils.serving.inference import HEATMAP_NOTE

    schema = _schema()
    for path in ("/v1/predict", "/v1/studies"):
        op = schema["paths"][path]["post"]
        body = op["responses"]["200"]["content"]["application/json"]["schema"]
        image = body["properties"]["images"]["items"] if path == "/v1/studies" else body
        note = image["properties"]["heatmap_note"]
        assert note["const"] == HEATMAP_NOTE and "not a localisation" in note["description"]
        assert set(image["properties"]) == {"heatmap_png_base64", "heatmap_original_png_base64", "heatmap_note"}
        assert body.get("additionalProperties", True)  # the other fields stay allowed (the example shows them)
        explain = next(p for p in op["parameters"] if p["name"] == "explain")
        assert HEATMAP_NOTE in explain["description"]
    assert "not where a lesion is" in HEATMAP_NOTE and "not a localisation" in HEATMAP_NOTE


def test_error_responses_names_an_undescribed_status():
    from mammo_utils.serving.api.schemas import error_responses

    with pytest.raises(ValueError, match=r"status \[418\]"):
        error_responses(400, 418)


def test_without_an_export_the_examples_say_they_are_illustrative():
    schema = _schema()
    for path in ("/v1/predict", "/v1/studies"):
        example = _example(schema, path)
        assert example["summary"] == "illustrative" and example["description"].startswith("Illustrative values")


def test_examples_filled_from_an_export_carry_its_model_threshold_and_detector(tmp_path, fake_export):
    from mammo_utils.serving.api.schemas import fill_examples
    from mammo_utils.serving.inference import describe_export

    folder = fake_export(tmp_path / "export", detector_score=0.0101)
    schema = fill_examples(_schema(), describe_export(folder))
    example = _example(schema, "/v1/predict")
    value = example["value"]
    assert value["threshold"] == value["model"]["threshold"] == 0.255
    assert value["model"]["registry_version"] == "17" and value["model"]["run_name"] == "arm_tuned_s2"
    assert value["detector"]["operating_score"] == 0.0101 and value["detector"]["classes"][0] == "mass"
    assert all(box["score"] >= 0.0101 and box["class"] == "mass" for box in value["boxes"])
    assert value["decision"] == ("recall" if value["probability"] >= 0.255 else "routine")
    assert "arm_tuned_s2" in example["description"] and "registry version 17" in example["description"]
    assert "operating score 0.0101" in example["description"] and "Illustrative: " in example["description"]
    study = _example(schema, "/v1/studies")["value"]
    assert study["threshold"] == 0.255 and study["detector"]["operating_score"] == 0.0101
    breast = study["breasts"][0]
    scored = [i["probability"] for i in study["images"] if "probability" in i]
    assert breast["probability"] == pytest.approx(sum(scored) / len(scored)) and breast["images"] == len(scored)


def test_an_export_without_a_detector_gives_null_boxes_in_its_examples(tmp_path, fake_export):
    from mammo_utils.serving.api.schemas import fill_examples
    from mammo_utils.serving.inference import describe_export

    schema = fill_examples(_schema(), describe_export(fake_export(tmp_path / "export")))
    value = _example(schema, "/v1/predict")["value"]
    assert value["boxes"] is None and value["detector"] is None and value["model"]["detector"] is None
    assert "no detector" in _example(schema, "/v1/predict")["description"]
