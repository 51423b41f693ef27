"""Step-counted progress lines: a word before the one-off build, steps (not epochs), a few losses, the pace."""

import keras
import numpy as np
import pytest

from keras_p2c.training.progress import StepProgress


def test_lines_count_steps_across_epochs_and_show_a_few_losses():
    lines = []
    progress = StepProgress(steps_per_epoch=4, total_steps=8, every=2, min_seconds=1e9, echo=lines.append)
    progress.on_train_begin()
    assert "one-off" in lines[0]
    logs = {"d_loss": 1.5, "g_loss": 30.25, "g_cycle_A": 0.5, "d_adv_GA": 0.1}
    for epoch in range(2):
        progress.on_epoch_begin(epoch)
        for batch in range(4):
            progress.on_train_batch_end(batch, logs)
    assert lines[1].startswith("First step built and ran in")
    steps = [line.split()[1] for line in lines[2:]]
    assert steps == ["1/8", "2/8", "4/8", "6/8", "8/8"]
    assert "d_loss 1.5  g_loss 30.25  g_cycle_A 0.5" in lines[2] and "d_adv_GA" not in lines[2]
    assert lines[-1].endswith("0 s left") and "s/step" in lines[-1]


def test_the_build_notice_is_said_once_and_as_early_as_the_driver_asks():
    lines = []
    progress = StepProgress(steps_per_epoch=2, total_steps=2, echo=lines.append)
    progress.announce()  # what p2c train does right after its first line, before the callbacks' set-up
    assert len(lines) == 1 and "one-off" in lines[0]
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    progress.on_train_batch_end(0, {"loss": 1.0})
    assert len(lines) == 3 and lines[1].startswith("First step built and ran in")


def test_a_resumed_run_counts_from_its_backup_and_an_eager_run_says_nothing_of_building():
    lines = []
    progress = StepProgress(steps_per_epoch=2, total_steps=6, initial_step=4, compiled=False, echo=lines.append)
    progress.on_train_begin()
    progress.on_epoch_begin(2)  # Keras restarts at the backed-up epoch
    progress.on_train_batch_end(0, {"loss": 1.0})
    progress.on_train_batch_end(1, {"loss": 1.0})
    assert lines[0].startswith("First step ran in") and lines[1].startswith("step 5/6")
    assert lines[2].startswith("step 6/6")


def test_within_fit():
    lines = []
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((6, 2), "float32")
    model.fit(x, x[:, :1], batch_size=2, epochs=2, verbose=0, callbacks=[StepProgress(3, 6, echo=lines.append)])
    assert [line.split()[1] for line in lines if line.startswith("step")] == [f"{i}/6" for i in range(1, 7)]


def test_every_must_be_positive():
    with pytest.raises(ValueError, match="every"):
        StepProgress(2, 4, every=0)
