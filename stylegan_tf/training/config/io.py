"""The configuration in and out: `--set`-style overrides, `config.json` (written and read back),
and the original's `config.txt`."""

import ast
import copy
import dataclasses
import json
import pprint

from stylegan_tf.training.config.presets import preset
from stylegan_tf.training.config.schema import (
    AugmentConfig,
    DatasetConfig,
    GridConfig,
    LossConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
    canonical_xla,
)


def parse_value(text):
    """A Python literal (number, bool, None, list, dict, quoted string) or else the plain text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_override(config, assignment):
    """Applies one `path=value` override in place, e.g. `sched.lod_training_kimg=10`,
    `G_args.fmap_base=128`, `D_loss.kwargs.r1_gamma=5` or `total_kimg=100`.

    Raises:
        ValueError: malformed assignment or unknown field.
    """
    if "=" not in assignment:
        raise ValueError(f"Override {assignment!r} must look like path=value.")
    path, text = assignment.split("=", 1)
    keys = path.strip().split(".")
    value = parse_value(text.strip())
    target = config
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(target, dict):
            if last:
                target[key] = value
            else:
                target = target.setdefault(key, {})
        elif dataclasses.is_dataclass(target):
            field_names = {field.name for field in dataclasses.fields(target)}
            if key not in field_names:
                raise ValueError(f"Override {assignment!r}: {'.'.join(keys[:depth + 1])!r} is "
                                 f"not a config field (fields: {', '.join(sorted(field_names))}).")
            if last:
                current = getattr(target, key)
                if dataclasses.is_dataclass(current):
                    raise ValueError(f"Override {assignment!r}: {path!r} is a group; set one of "
                                     "its fields.")
                setattr(target, key, _coerce(value, current, assignment))
            else:
                target = getattr(target, key)
        else:
            raise ValueError(f"Override {assignment!r}: {'.'.join(keys[:depth])!r} has no fields.")
    return config


def _coerce(value, current, assignment):
    if isinstance(current, bool):
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError(f"Override {assignment!r}: expected true/false.")
        return value
    if isinstance(current, (int, float)) and not isinstance(value, (int, float)) \
            and value is not None:
        raise ValueError(f"Override {assignment!r}: expected a number, got {value!r}.")
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def resolve_config(name, overrides=()):
    """A preset with `path=value` overrides applied and validated."""
    config = preset(name)
    for assignment in overrides:
        apply_override(config, assignment)
    config.validate()
    return config


def to_dict(config):
    """Plain nested dict of a TrainConfig (deep copy), `xla` in its stored form (`canonical_xla`)."""
    data = copy.deepcopy(dataclasses.asdict(config))
    data["xla"] = canonical_xla(data["xla"])
    return data


def to_json(config):
    return json.dumps(to_dict(config), indent=2, sort_keys=False)


def _int_keys(mapping):
    return {int(key) if isinstance(key, str) and key.lstrip("-").isdigit() else key: value
            for key, value in mapping.items()}


EFFECTIVE_KEY = "effective"  # train.py --dry_run's view of the defaults that will run (not a field)


def from_dict(data):
    """Inverse of `to_dict` (accepts JSON-decoded dicts, whose int keys became strings, and the
    output of `train.py --dry_run`)."""
    data = copy.deepcopy(data)
    data.pop(EFFECTIVE_KEY, None)
    nested = dict(dataset=DatasetConfig, G_opt=OptimizerConfig, D_opt=OptimizerConfig,
                  G_loss=LossConfig, D_loss=LossConfig, sched=ScheduleConfig, grid=GridConfig,
                  augment=AugmentConfig)
    known = {field.name for field in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"Unknown config fields: {', '.join(unknown)}.")
    for key, cls in nested.items():
        if key in data:
            values = data[key]
            if cls is GridConfig and values.get("layout") == "random":
                values = {k: v for k, v in values.items() if k != "layout"}  # older config.json
            if cls is ScheduleConfig:
                values = {k: _int_keys(v) if isinstance(v, dict) else v for k, v in values.items()}
            data[key] = cls(**values)
    return TrainConfig(**data)


def load_config_json(path):
    """The TrainConfig of a run directory's config.json; ValueError naming the file for one from
    another tool or release (unknown fields, wrong types, not JSON)."""
    try:
        with open(path, "rt", encoding="utf-8") as file:
            config = from_dict(json.load(file))
        config.validate()
        return config
    except (ValueError, TypeError, AttributeError, KeyError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a config.json of stylegan-tf ({error}); give the preset with --config "
                         "and the pickle with --resume") from None


def original_config_text(config):
    """The run directory's `config.txt` in the original's format (a pprint of the train.py
    globals), so tools that parse the original's `dataset` and `train` lines read our runs too."""
    # The original's keys only: its parser reads each entry from one line (pprint width 200).
    train = dict(run_func_name="training.training_loop.training_loop",
                 mirror_augment=config.mirror_augment, total_kimg=config.total_kimg)
    dataset = {key: value for key, value in dataclasses.asdict(config.dataset).items()
               if value not in (None, 0) or key == "tfrecord_dir"}
    def func_name(func):  # the release's module and name
        if func in ("G_main_ada", "D_main"):
            return f"training.networks.{func.removesuffix('_ada')}"
        return f"training.{'networks_stylegan' if func in ('G_style', 'D_basic') else 'networks_stylegan2'}.{func}"
    values = {
        "D": dict(func_name=func_name(config.D_func), **config.D_args),
        "D_loss": dict(func_name=f"training.loss.{config.D_loss.func_name}",
                       **config.D_loss.kwargs),
        "D_opt": dataclasses.asdict(config.D_opt),
        "G": dict(func_name=func_name(config.G_func), **config.G_args),
        "G_loss": dict(func_name=f"training.loss.{config.G_loss.func_name}",
                       **config.G_loss.kwargs),
        "G_opt": dataclasses.asdict(config.G_opt),
        "dataset": dataset,
        "desc": config.desc,
        "grid": dict(dataclasses.asdict(config.grid), layout="random"),
        "sched": dataclasses.asdict(config.sched),
        "tf_config": {"rnd.np_random_seed": config.random_seed},
        "train": train,
    }
    return pprint.pformat(values, indent=4, width=200, compact=False) + "\n"
