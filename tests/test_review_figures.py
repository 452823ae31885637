"""Review figures without Ray: PCA label maps, confusion matrices, α/β heatmaps, causal-effect images,
written to TensorBoard and read back with TensorBoard's own event reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raymtl.analysis.label_maps import label_map_figure, pca_2d
from raymtl.analysis.plots import best_so_far, heatmap, learning_curves, png_bytes
from raymtl.analysis.tensorboard import confusion_matrices, message_weights, write_model_review
from tests.test_models_causal import ABSA, LJP, build, synthetic_batch
from tests.test_models_graph import _build as build_graph
from tests.test_models_graph import _synthetic_batch as graph_batch
from tests.test_models_graph import _tasks as graph_tasks

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _read(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"images": 0})
    acc.Reload()
    return acc


def test_pca_2d_recovers_a_planar_configuration():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(7, 2)) * [3.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(5, 2)))[0]  # an orthonormal 2-D subspace of R^5
    coords, ratio = pca_2d(plane @ basis.T + 4.0)
    assert coords.shape == (7, 2)
    assert ratio.sum() == pytest.approx(1.0) and ratio[0] >= ratio[1]
    # PCA is a rotation of the centred plane: every pairwise distance is kept
    d = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    assert np.allclose(d(coords), d(plane), atol=1e-9)
    assert np.allclose(pca_2d(np.ones((1, 3)))[0], 0)


def test_figures_render_to_png():
    figs = [heatmap([[0.1, -0.2], [0.3, 0.0]], ["a", "b"], ["x", "y"], diverging=True, title="t"),
            learning_curves([{"epoch": 1, "train/loss": 1.0, "dev/ate/main": 0.2},
                             {"epoch": 2, "train/loss": 0.5, "dev/ate/main": 0.4}]),
            best_so_far([0.1, float("nan"), 0.3, 0.2]),
            label_map_figure({"ate": (torch.randn(3, 4), ["O", "B", "I"]), "x": (torch.randn(2, 4), ["p", "q"])})]
    for f in figs:
        assert png_bytes(f).startswith(PNG)


def test_confusion_matrices_count_every_labelled_unit():
    torch.manual_seed(0)
    model = build("cmtl", ABSA)
    batch = synthetic_batch(ABSA)
    cm = confusion_matrices(model, [batch])
    m, labels, kind = cm["ate"]
    assert kind == "tagging" and labels == ["O", "B", "I"]
    labelled = batch.mask & batch.present["ate"].unsqueeze(1) & (batch.targets["ate"] >= 0)
    assert m.sum() == int(labelled.sum())  # one count per labelled token
    assert m.sum(1).tolist() == [int(((batch.targets["ate"] == k) & labelled).sum()) for k in range(3)]
    m, labels, kind = cm["acd"]
    assert kind == "multilabel" and labels[-1] == "(none)" and m.shape == (6, 6)
    model.eval()
    with torch.no_grad():
        pred = model(batch).predictions["acd"]
    # the diagonal counts gold labels that were also predicted
    assert np.diag(m)[:5].tolist() == (batch.targets["acd"].bool() & pred.bool()).sum(0).tolist()


def test_review_of_a_cmtl_model_in_tensorboard(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(0)
    model = build("cmtl", LJP)
    batches = [synthetic_batch(LJP, seed=s) for s in range(2)]
    history = [{"epoch": 1, "train/loss": 2.0, "dev/rap/main": 0.1},
               {"epoch": 2, "train/loss": 1.0, "dev/rap/main": 0.3}]
    with SummaryWriter(str(tmp_path)) as w:
        tags = write_model_review(w, model, batches, history=history, step=2, log=pytest.fail)
    acc = _read(tmp_path)
    images = set(acc.Tags()["images"])
    expected = {"review/label_map", "review/learning_curves", "review/confusion/rap", "review/confusion/cp",
                "review/confusion/ptp", "review/causal_effects/rap_to_cp", "review/causal_effects/rap_to_ptp",
                "review/causal_effects/cp_to_ptp"}
    assert expected <= images
    assert all(acc.Images(t)[-1].encoded_image_string.startswith(PNG) for t in expected)
    assert {"label_embeddings/rap", "label_embeddings/cp"} <= set(tags)  # the projector (lower tasks of eq. 1)


def test_alpha_and_beta_heatmaps(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    tasks = graph_tasks(3)
    batch = graph_batch(3)
    cg = build_graph("cg_mtl", tasks)
    mat, names = message_weights(cg, batch)["alpha"]
    assert names == ["t0", "t1", "t2"] and mat.shape == (3, 3)
    assert np.allclose(np.diag(mat), 0) and np.allclose(mat.sum(1), 1, atol=1e-5)  # graph-mtl eq. 6: over i != k
    sg = build_graph("sg_mtl", tasks)
    beta = message_weights(sg, batch)["beta"]
    assert set(beta) == {"t0", "t1", "t2"}
    for b, words in beta.values():
        assert b.shape == (len(words), len(words)) and np.allclose(b.sum(1), 1, atol=1e-5)  # eq. 8 over positions
    for name, model in (("cg", cg), ("sg", sg)):
        with SummaryWriter(str(tmp_path / name)) as w:
            write_model_review(w, model, [batch], step=1, log=pytest.fail)
    assert "review/alpha" in _read(tmp_path / "cg").Tags()["images"]
    assert {"review/beta/t0", "review/beta/t1", "review/beta/t2"} <= set(_read(tmp_path / "sg").Tags()["images"])
