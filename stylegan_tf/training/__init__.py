"""Training as the original release's `train.py` + `training/training_loop.py`.

`config` (presets and overrides), `schedule` (progressive-growing schedule), `losses`,
`optimizer` (TF1 Adam), `distribute` (strategies), `reals` (real-image processing), `trainer` (G, D,
Gs and the compiled steps), `stats` (tick statistics, the log), `summaries` (TensorBoard events),
`snapshots` (run directories, snapshots, resume) and `loop` (`training_loop(config)`).
"""
