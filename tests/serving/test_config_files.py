"""TF Serving's text-format config files: the model config (several models, policies, labels) and batching."""

from pathlib import Path

import pytest

from keras_p2c.serving.config_files import (
    BatchingParameters,
    ConfigFileError,
    VersionPolicy,
    read_batching_parameters,
    read_model_config,
)

CONFIG = """
# two models, as TF Serving's docs write them
model_config_list {
  config {
    name: "photo2cartoon"
    base_path: "/models/photo2cartoon"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 2 versions: 1 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config: {
    name: 'other'
    base_path: 'relative/other'
    model_version_policy: { latest: { num_versions: 2 } }
  }
  config { name: "everything" base_path: "/m/e" model_version_policy { all {} } }
  config { name: "plain" base_path: "/m/p" }
}
"""


def _write(tmp_path, text, name="models.config"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_model_config_reads_models_policies_and_labels(tmp_path):
    first, other, everything, plain = read_model_config(_write(tmp_path, CONFIG))
    assert first.name == "photo2cartoon" and first.base_path == Path("/models/photo2cartoon")
    assert first.version_policy == VersionPolicy("specific", versions=(1, 2))
    assert first.version_labels == {"stable": 1, "canary": 2}
    assert first.source.endswith("models.config:5")  # the line of its name
    assert other.base_path == Path("relative/other")  # relative to the working folder, as in TF Serving
    assert other.version_policy == VersionPolicy("latest", num_versions=2) and other.version_labels == {}
    assert everything.version_policy.kind == "all"
    assert plain.version_policy == VersionPolicy()  # TF Serving's default: the newest version


@pytest.mark.parametrize(
    "policy, available, selected",
    [
        (VersionPolicy(), [3, 1, 2], [3]),
        (VersionPolicy("latest", num_versions=2), [3, 1, 2], [2, 3]),
        (VersionPolicy("latest", num_versions=5), [1], [1]),
        (VersionPolicy("all"), [2, 1], [1, 2]),
        (VersionPolicy("specific", versions=(1, 3)), [1, 2], [1]),
        (VersionPolicy(), [], []),
    ],
)
def test_version_policy_selects(policy, available, selected):
    assert policy.select(available) == selected


@pytest.mark.parametrize(
    "text, fragments",
    [
        ('model_config_list {\n  config {\n    nme: "x"\n  }\n}\n', ["models.config:3:", 'no field named "nme"']),
        ("model_config_list { config { name: \"x\" base_path: \"/a\" }\n", ["models.config:1:", "Expected \"}\""]),
        ('model_config_list {\n config { name: "a" base_path: "/a" }\n config { name: "a" base_path: "/b" }\n}',
         ["models.config:2:", "configured twice"]),
        ('model_config_list { config { name: "../etc" base_path: "/a" } }', ["plain `name`"]),
        ('model_config_list { config { name: "a" } }', ["no `base_path`"]),
        ('model_config_list { config { name: "a" base_path: "/a" model_platform: "pytorch" } }', ["pytorch"]),
        ('model_config_list { config { name: "a" base_path: "/a" version_labels { key: "s" value: 0 } } }',
         ["positive versions"]),
        ('model_config_list { config { name: "a" base_path: "/a" model_version_policy { specific {} } } }',
         ["specific"]),
        ("model_config_list { }", ["no `config"]),
        ("", ["model_config_list"]),
    ],
)  # fmt: skip
def test_bad_model_configs_name_the_file_and_line(tmp_path, text, fragments):
    with pytest.raises(ConfigFileError) as caught:
        read_model_config(_write(tmp_path, text))
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "models.config"))
    assert all(fragment in message for fragment in fragments), message


def test_missing_and_binary_config_files(tmp_path):
    with pytest.raises(ConfigFileError, match="no such model config file"):
        read_model_config(tmp_path / "absent.config")
    (tmp_path / "binary.config").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigFileError, match="not a text file"):
        read_model_config(tmp_path / "binary.config")


def test_batching_parameters_file_and_overrides(tmp_path):
    path = _write(
        tmp_path,
        "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 1000 }\nnum_batch_threads { value: 2 }\n"
        'thread_pool_name { value: "batch_threads" }\nallowed_batch_sizes: 2\nallowed_batch_sizes: 4\n',
        "batching.config",
    )
    assert read_batching_parameters(path) == BatchingParameters(
        max_batch_size=4, batch_timeout_micros=1000, num_batch_threads=2, allowed_batch_sizes=(2, 4)
    )
    overridden = read_batching_parameters(path, batch_timeout_micros=0, max_enqueued_batches=None)
    assert overridden.batch_timeout_micros == 0 and overridden.max_enqueued_batches == BatchingParameters().max_enqueued_batches
    assert read_batching_parameters(None) == BatchingParameters()


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("max_batch_size { value: 4 }\nenable_large_batch_splitting { value: true }\n",
         'batching.config:2:1: Message type "tensorflow.serving.BatchingParameters" has no field named'),
        ("max_batch_size: 4\n", "batching.config:1"),  # a wrapper type needs { value: 4 }
        ("max_batch_size { value: 0 }", "max_batch_size must be at least 1"),
        ("max_batch_size { value: 4 }\nallowed_batch_sizes: 2\n", "end at max_batch_size"),
        ("pad_variable_length_inputs: true", "not supported"),
    ],
)  # fmt: skip
def test_bad_batching_parameters(tmp_path, text, fragment):
    with pytest.raises(ConfigFileError) as caught:
        read_batching_parameters(_write(tmp_path, text, "batching.config"))
    assert fragment.replace("`", "") in str(caught.value).replace("`", "")
