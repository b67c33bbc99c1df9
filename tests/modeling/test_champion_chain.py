"""04's step of the champion chain: it opens the chain, and run again on its own it never takes the alias back."""

from __future__ import annotations


def test_04_sets_the_alias_first_and_never_takes_it_back_from_a_later_stage(tmp_path, monkeypatch):
    import mlflow

    from mammo_utils.modeling import tracking

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # this test's store only (the environment is restored after)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", store)
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    monkeypatch.setattr(mlflow.tracking._model_registry.utils, "_registry_uri", None)
    client = mlflow.MlflowClient()
    client.create_registered_model("m")
    versions = [str(client.create_model_version("m", source=str(tmp_path / f"v{i}")).version) for i in range(4)]
    own = set(versions[:3])  # 04's three seeds; the fourth: a later stage's run
    alias = lambda: str(client.get_model_version_by_alias("m", tracking.CHAMPION).version)  # noqa: E731

    assert tracking.open_champion("m", versions[1], own) is None and alias() == versions[1]  # a fresh store
    assert tracking.open_champion("m", versions[2], own) is None and alias() == versions[2]  # 04 again: its own
    tracking.set_champion("m", versions[3])  # 06 promotes its tuned run
    assert tracking.open_champion("m", versions[1], own) == versions[3]  # 04 run again on its own
    assert alias() == versions[3]  # the promoted (and exported) model keeps the alias
