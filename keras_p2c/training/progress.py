"""Progress of a training run counted in steps, for people: what the run is doing, a few losses, the pace.

Keras' own progress bar counts epochs, which here are checkpoint periods ("Epoch 1/2" for an 8-step run),
and says nothing while the step function is built — the one-off wait before the first step. This callback
says so before it starts, then prints one line every `every` steps (and at least every `min_seconds`):
the step, a handful of losses (every term still goes to TensorBoard), seconds per step and the time left.
"""

import time

from keras_p2c.training.callbacks import GlobalStepCallback

# The losses a line shows, when present: the totals and the terms that move most visibly.
SHOWN = ("d_loss", "g_loss", "g_cycle_A", "g_identity_A", "g_cam_A", "g_face_id_A")


class StepProgress(GlobalStepCallback):
    """Prints `step k/N`, a few losses, s/step and the time left.

    Args:
        steps_per_epoch: as given to `fit`.
        total_steps: the run's last step (`training.iterations`).
        initial_step: the step the run starts from (0, or where a backup left off).
        every: steps between lines. Defaults to 1.
        min_seconds: also print when this long has passed since the last line. Defaults to 10.
        compiled: whether the step is compiled (then the first step includes building it).
        echo: where lines go. Defaults to `print`.
    """

    def __init__(self, steps_per_epoch, total_steps, initial_step=0, every=1, min_seconds=10.0, compiled=True,
                 echo=print):  # fmt: skip
        super().__init__(steps_per_epoch)
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        self.total_steps = total_steps
        self.initial_step = initial_step
        self.every = every
        self.min_seconds = min_seconds
        self.compiled = compiled
        self.echo = echo
        self._started = None
        self._first_done = None
        self._last_line = None
        self._announced = False

    def announce(self):
        """The word before the one-off build (once): the driver says it as soon as the run is set up."""
        if self.compiled and not self._announced:
            self.echo(
                "Building the training step: a one-off wait before the first step (measured on a 2-core CPU: "
                "~30 s at 64 px, ~45 s at 256² with Face-ID)..."
            )
        self._announced = True

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()
        self.announce()

    def on_steps_done(self, previous, step, logs):
        now = time.perf_counter()
        if self._first_done is None:
            self._first_done = (now, step)
            what = "built and ran" if self.compiled else "ran"
            self.echo(f"First step {what} in {now - self._started:.1f} s.")
            self._last_line = now
            self.echo(self._line(step, logs, None))
            return
        due = self.crossed(previous, step, self.every) or now - self._last_line >= self.min_seconds
        if due or step >= self.total_steps:
            self._last_line = now
            since, first_step = self._first_done
            self.echo(self._line(step, logs, (now - since) / max(step - first_step, 1)))

    def _line(self, step, logs, seconds_per_step):
        losses = "  ".join(f"{name} {float(logs[name]):.4g}" for name in SHOWN if name in logs)
        line = f"step {step:,}/{self.total_steps:,}  {losses}"
        if seconds_per_step is not None:
            left = max(self.total_steps - step, 0) * seconds_per_step
            line += f"  {seconds_per_step:.2f} s/step, {_duration(left)} left"
        return line


def _duration(seconds):
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
