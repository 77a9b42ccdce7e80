"""Every registered model passes one contract: shapes, determinism, save and load."""

from __future__ import annotations

import io

import pytest
import torch

from scvbench.errors import ScvbenchError
from scvbench.models import available_models, create_model

SMALL = {  # small widths so that the contract runs in seconds on a CPU
    "deeplabv3plus": {"depth": 18},
    "unet": {"channels": (8, 16, 32, 64, 128)},
    "attention_unet": {"channels": (8, 16, 32, 64, 128)},
}


@pytest.mark.parametrize("name", available_models())
def test_model_contract(name):
    torch.manual_seed(0)
    model = create_model(name, **SMALL.get(name, {}))
    x = torch.randn(2, 1, 64, 96)
    model.eval()
    with torch.inference_mode():
        out = model(x)
        again = model(x)
    assert out.shape == (2, 2, 64, 96) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, again)  # deterministic in eval mode
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(1)
    fresh = create_model(name, **SMALL.get(name, {}))
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    fresh.eval()
    with torch.inference_mode():
        torch.testing.assert_close(fresh(x), out)
    if not any(p.requires_grad for p in model.parameters()):
        return  # a classical filter (frangi): tuned, not trained by gradients
    # trains: gradients reach the first layer
    model.train()
    loss = model(x).logsumexp(dim=1).mean()
    loss.backward()
    first = next(p for p in model.parameters() if p.requires_grad)
    assert first.grad is not None and torch.isfinite(first.grad).all()


def test_deeplabv3plus_is_output_stride_16_with_aspp_rates():
    model = create_model("deeplabv3plus", depth=18).eval()
    with torch.inference_mode():
        features = model.encoder(torch.zeros(1, 1, 128, 128))
    assert [f.shape[-1] for f in features] == [64, 32, 16, 8, 8]  # last stage dilated: 1/16
    rates = [b[0].dilation[0] for b in model.aspp.branches[1:4]]
    assert rates == [6, 12, 18]
    assert model.low[0].out_channels == 48


def test_unknown_model_suggests_the_nearest():
    with pytest.raises(ScvbenchError, match="did you mean deeplabv3plus"):
        create_model("deeplabv3")
    with pytest.raises(ScvbenchError, match="available: attention_unet, deeplabv3plus, frangi"):
        create_model("segformer")
    with pytest.raises(ScvbenchError, match="bad configuration"):
        create_model("deeplabv3plus", depth=18, colour="red")


def test_entry_point_models_plug_in(monkeypatch):
    from importlib.metadata import EntryPoint

    import scvbench.models as models

    plugged = [
        EntryPoint("vesselness2", "scvbench.models.frangi:FrangiVesselness", "scvbench.models"),
        EntryPoint("unet", "scvbench.models.frangi:FrangiVesselness", "scvbench.models"),
    ]
    monkeypatch.setattr(models, "entry_points", lambda group: plugged)
    assert "vesselness2" in available_models()
    model = create_model("vesselness2", sigmas=(1.0, 2.0))
    assert type(model).__name__ == "FrangiVesselness"
    assert type(create_model("unet", channels=(4, 8))).__name__ == "UNet"  # built-ins win


def test_checkpoints_are_byte_reproducible(tmp_path):
    """The same state saved twice gives the same bytes: a checkpoint's SHA-256 identifies it."""
    import hashlib

    from scvbench.models.checkpoint import load_checkpoint, save_checkpoint
    from scvbench.steps.train import untrained_state

    state = untrained_state("frangi")
    save_checkpoint(tmp_path / "a" / "model_best.pt", state)
    save_checkpoint(tmp_path / "b" / "model_best.pt", state)
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.glob("*/*.pt")}
    assert len(digests) == 1
    assert load_checkpoint(tmp_path / "a" / "model_best.pt")["config"] == state["config"]
