"""Metric results and the files they are recorded in: the original's one-line text format
(`metric-<name>.txt`) and JSON lines (`metric-<name>.jsonl`).
"""
import dataclasses
import datetime
import json
import os
import pathlib

from stylegan_tf import cli


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """One reported number.

    Args:
        metric: metric name, e.g. "ls".
        suffix: appended to the name in reports, e.g. "_z" (empty for single-valued metrics).
        value: the number.
        fmt: printf format of the value in the text line.
    """
    metric: str
    suffix: str
    value: float
    fmt: str = "%-10.4f"

    @property
    def name(self):
        return self.metric + self.suffix


def result_line(network_pkl, eval_time, results):
    """The original's one-line report: network name (30 wide), time, then `name value` pairs."""
    network_name = os.path.splitext(os.path.basename(str(network_pkl)))[0]
    if len(network_name) > 29:
        network_name = "..." + network_name[-26:]
    line = "%-30s" % network_name + " time %-12s" % cli.format_time(eval_time)
    for result in results:
        line += " " + result.name + " " + result.fmt % result.value
    return line


def _append_line(path, line):
    # One write() of a whole line in append mode: concurrent appenders never interleave within it.
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")


def append_results(output_dir, metric_name, network_pkl, eval_time, results, options=None, extra=None):
    """Appends a result to `<output_dir>/metric-<name>.txt` (original format) and `.jsonl`.

    Args:
        output_dir: run folder (created if needed).
        metric_name: the metric's name (file name part).
        network_pkl: evaluated pickle.
        eval_time: seconds.
        results: [MetricResult].
        options: EvaluationOptions, recorded in the JSON line.
        extra: dict of further JSON fields.

    Returns:
        The text line.
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    line = result_line(network_pkl, eval_time, results)
    _append_line(output_dir / f"metric-{metric_name}.txt", line)
    record = {
        "metric": metric_name,
        "network": str(network_pkl),
        "results": {result.name: float(result.value) for result in results},
        "eval_time": float(eval_time),
        "eval_time_str": cli.format_time(eval_time),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if options is not None:
        record["options"] = {key: value for key, value in dataclasses.asdict(options).items()
                             if key not in ("progress",)}
    record.update(extra or {})
    _append_line(output_dir / f"metric-{metric_name}.jsonl", json.dumps(record, sort_keys=True))
    return line
