"""`build_gan`: the config's networks, optimisers and loss weights; `init_from` and Face-ID weights wired in."""

import collections
from pathlib import Path

import numpy as np
import pytest

from keras_p2c.optimizers import ReferenceAdam
from keras_p2c.training import load_config
from keras_p2c.training.run import build_gan
from tests.helpers.mobilefacenet import random_state_dict

torch = pytest.importorskip("torch")

from tests.reference.torch_reference import TorchDiscriminator, TorchGenerator, randomize_  # noqa: E402

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"


def test_networks_optimisers_and_weights_follow_the_config():
    config = load_config(SMOKE, ["loss.cycle=20", "optimizer.beta_1=0.4", "optimizer.weight_decay=0.001"])
    gan = build_gan(config)
    assert (gan.img_size, gan.ngf, gan.ndf, gan.n_blocks) == (64, 8, 8, 2)
    assert (gan.disGA.n_layers, gan.disLA.n_layers) == (6, 5)
    assert gan.gan_losses.weights.cycle == 20 and gan.gan_losses.weights.face_id == 0
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        assert isinstance(optimizer, ReferenceAdam)
        assert (optimizer.beta_1, optimizer.l2_weight_decay, optimizer.epsilon) == (0.4, 0.001, 1e-8)
        schedule = optimizer.get_config()["learning_rate"]
        assert schedule["class_name"] == "LinearDecayAfter"
        assert (schedule["config"]["decay_start"], schedule["config"]["total_steps"]) == (
            config.optimizer.decay_start,
            config.training.iterations,
        )
    assert not gan.uses_face_id


def test_init_from_loads_all_six_networks(tmp_path):
    def generator(seed):
        torch.manual_seed(seed)
        return randomize_(TorchGenerator(8, 2, True), seed)

    def discriminator(layers, seed):
        torch.manual_seed(seed)
        return TorchDiscriminator(8, layers)

    networks = {
        "genA2B": generator(0),
        "genB2A": generator(1),
        "disGA": discriminator(6, 2),
        "disGB": discriminator(6, 3),
        "disLA": discriminator(5, 4),
        "disLB": discriminator(5, 5),
    }
    path = tmp_path / "photo2cartoon_weights.pt"
    torch.save({name: net.state_dict() for name, net in networks.items()}, path)

    gan = build_gan(load_config(SMOKE, [f"init_from={path}"]))
    # A Keras conv kernel is the torch OIHW weight transposed to HWIO.
    stem = networks["genB2A"].state_dict()["ConvBlock1.1.weight"].numpy().transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(gan.genB2A.ConvBlock1_conv.kernel.numpy(), stem)
    head = networks["disLB"].state_dict()["conv.weight_orig"].numpy().transpose(2, 3, 1, 0)
    assert any(np.array_equal(w, head) for w in gan.disLB.get_weights())


def test_face_id_weights_switch_the_term_on(tmp_path):
    path = tmp_path / "model_mobilefacenet.pth"
    state = random_state_dict()
    torch.save(collections.OrderedDict((k, torch.from_numpy(np.asarray(v))) for k, v in state.items()), path)
    gan = build_gan(load_config(SMOKE, ["loss.face_id=1", f"face_id_weights={path}"]))
    assert gan.uses_face_id and gan.face_features.trainable_weights == []
    assert {"g_face_id_A", "g_face_id_B"} <= {metric.name for metric in gan.metrics}
    kernel = state["linear.weight"].T
    np.testing.assert_array_equal(gan.face_features.backbone.linear.kernel.numpy(), kernel)


def test_a_run_folder_refuses_a_backup_it_cannot_resume(tmp_path, caplog):
    from keras_p2c.training import TrainingSetupError, train, write_config
    from keras_p2c.training.run import _check_run_folder

    run_dir = tmp_path / "run"
    first = load_config(SMOKE, [f"output_dir={run_dir}"])
    write_config(first, run_dir / "config.yaml")
    (run_dir / "backup").mkdir()
    (run_dir / "backup" / "latest.weights.h5").write_bytes(b"")  # a folder of Keras' own BackupAndRestore
    (run_dir / "backup" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    for change in ("model.ngf=12", "logging.checkpoint_every=8"):
        with pytest.raises(TrainingSetupError, match=f"cannot resume.*{change.split('=')[0]}"):
            train(load_config(SMOKE, [f"output_dir={run_dir}", change]), echo=None)
    with caplog.at_level("WARNING"):
        _check_run_folder(load_config(SMOKE, [f"output_dir={run_dir}", "loss.cycle=10"]), run_dir, run_dir / "backup")
    assert "loss.cycle" in caplog.text
