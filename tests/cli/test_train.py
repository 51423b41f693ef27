"""`p2c train`'s arguments: the config file, then `--set`, then the direct flags."""

from keras_p2c.cli.main import build_parser
from keras_p2c.cli.train import config_from_args


def test_p2c_train_is_registered():
    args = build_parser().parse_args(["train", "--smoke", "--batch-size", "2", "--set", "loss.cycle=10"])
    config = config_from_args(args)
    assert config.training.batch_size == 2 and config.loss.cycle == 10 and config.data.synthetic
