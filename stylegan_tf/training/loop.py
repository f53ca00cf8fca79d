"""The outer training loop (the original `training_loop()` of `training/training_loop.py`).

`training_loop(config)`: schedule, optimizer resets at lod-phase changes, `minibatch_repeats` and
`D_repeats`, ticks with the original's log line, TensorBoard scalars and image grids, network
snapshots (original pickle format + a training-state file), resume.
"""

import dataclasses
import json
import os
import time

import numpy as np

from stylegan_tf import cli, fileio, images, network_limits, pretrained, xla
from stylegan_tf.training import config as config_lib
from stylegan_tf.training import distribute, phases, resume, schedule, snapshots, summaries
from stylegan_tf.training.stats import Logger, TickStats, TrainingDivergedError, peak_gpu_memory_gb, skipped_updates
from stylegan_tf.training.trainer import DatasetInfo, Trainer


def _open_dataset(config, log):
    from stylegan_tf import dataset as dataset_lib
    tfrecord_dir = config.dataset.tfrecord_dir
    path = tfrecord_dir if os.path.isabs(tfrecord_dir) else os.path.join(config.data_dir,
                                                                         tfrecord_dir)
    if tfrecord_dir == config_lib.DEMO_DATASET:
        from stylegan_tf.dataset import demo
        demo.ensure_digits_dataset(path, log=log)
    elif tfrecord_dir.startswith(config_lib.FACES_DATASET_PREFIX):
        from stylegan_tf.dataset import demo
        resolution = demo.faces_resolution(tfrecord_dir)
        if resolution:
            demo.ensure_faces_dataset(path, resolution, log=log)
    if not os.path.isdir(path):
        raise ValueError(f'Dataset directory "{path}" does not exist (set --data_dir/--dataset; '
                         "create one with dataset_tool.py).")
    training_set = dataset_lib.TFRecordDataset(path, resolution=config.dataset.resolution,
                                               label_file=config.dataset.label_file,
                                               max_label_size=config.dataset.max_label_size)
    if training_set.num_channels not in (1, 3):  # checked before a run directory exists
        raise ValueError(f'Dataset "{path}" holds {training_set.num_channels}-channel images; training '
                         "takes grayscale (1) or RGB (3) images, as the snapshot grids and metrics do.")
    return training_set


def _create_run_dir(config, log):
    run_dir = snapshots.create_run_dir(config.result_dir, config.desc)
    log.attach(os.path.join(run_dir, "log.txt"))
    fileio.write_text_atomic(os.path.join(run_dir, "config.json"), config_lib.to_json(config))
    fileio.write_text_atomic(os.path.join(run_dir, "config.txt"),
                             config_lib.original_config_text(config))
    log(f'Run directory: "{run_dir}"')
    return run_dir


def training_loop(config, strategy=None, echo=True):
    """Trains as the original `training_loop()` with a resolved TrainConfig.

    Args:
        config: config.TrainConfig (validated).
        strategy: tf.distribute strategy (None: `distribute.make_strategy(config.strategy)`).
        echo: also print the log to stdout.

    Returns:
        The run directory (None on non-chief workers).
    """
    import keras
    strategy = strategy or distribute.make_strategy(config.strategy)
    chief = distribute.is_chief(strategy)
    start_time = time.time()
    keras.utils.set_random_seed(config.random_seed)
    rng = np.random.RandomState(config.random_seed)

    log = Logger(echo=echo)
    run_dir = None
    try:
        log("Loading dataset...")
        training_set = _open_dataset(config, log)
        # Any --network value: a snapshot, run directory, run id, registered name or URL.
        resume_pkl = (str(pretrained.resolve_network(config.resume, result_dir=config.result_dir))
                      if config.resume else None)
        # Read (and so validate) the networks to resume before anything is written.
        resume_inputs = resume.read_resume(resume_pkl, config, log) if resume_pkl else None
        log(f"Dataset: {training_set.tfrecord_dir}, {training_set.num_images} images, "
            f"shape {list(training_set.shape)}, labels {training_set.label_size}")
        dataset_kwargs = dict(resolution=training_set.resolution, num_channels=training_set.num_channels,
                              label_size=training_set.label_size)
        for what, kwargs in (("G_args", config.G_args), ("D_args", config.D_args)):
            network_limits.check_network_kwargs({**kwargs, **dataset_kwargs}, f"{what} with the dataset's")
        num_replicas = strategy.num_replicas_in_sync
        log(f"Strategy: {distribute.strategy_name(strategy)} with {num_replicas} replica(s) on "
            f"{distribute.describe_devices(strategy)}; steps: {xla.describe(config.xla)}, precision "
            f"{config.precision}")
        warning = distribute.missing_gpu_warning(config.strategy, config.num_gpus)
        if warning:
            log(f"Warning: {warning}")
        if num_replicas != config.num_gpus:
            log(f"Note: the config's minibatch tables are written for {config.num_gpus} GPU(s); "
                f"the schedule splits them over {num_replicas} replica(s).")

        log("Constructing networks...")
        trainer = Trainer(strategy, config, DatasetInfo.of(training_set),
                          compile_mode="xla" if xla.use_xla(config.xla) else "function")
        loop_state = resume.LoopState()
        if resume_pkl:
            loop_state = resume.load_resume(trainer, resume_pkl, resume_inputs, config, log)
            trainer.step_counter = loop_state.step_counter
        if chief:  # only once the inputs are known to be usable and the networks are built
            run_dir = _create_run_dir(config, log)
        run = _TrainingRun(config, strategy, trainer, training_set, loop_state, run_dir, log,
                           start_time)
        try:
            run.setup_grid(rng)
            run.train()
        except TrainingDivergedError as error:
            log(f"Error: {error}", echo=False)  # in log.txt too; the command prints it
            raise
        if run_dir:
            open(os.path.join(run_dir, "_finished.txt"), "w").close()
        return run_dir
    finally:
        log.close()


@dataclasses.dataclass
class _Tick:
    """Where the current tick started."""
    nimg: int
    time: float
    maintenance_time: float


class _TrainingRun:
    """One run of the loop: the schedule, the snapshot grid and the per-tick maintenance."""

    def __init__(self, config, strategy, trainer, training_set, loop_state, run_dir, log,
                 start_time):
        self.config = config
        self.num_replicas = strategy.num_replicas_in_sync
        self.trainer = trainer
        self.training_set = training_set
        self.state = loop_state
        self.run_dir = run_dir
        self.log = log
        self.start_time = start_time
        self.stats = TickStats(strategy)
        self.phases = phases.training_phases(config)
        self.strategy = strategy
        self.summary_writer = summaries.SummaryWriter(run_dir) if run_dir else None

    def schedule_at(self, nimg):
        sched = schedule.training_schedule(nimg, self.training_set.resolution_log2,
                                           self.num_replicas,
                                           **dataclasses.asdict(self.config.sched))
        if sched.minibatch < self.num_replicas:
            raise ValueError(f"the minibatch at {sched.resolution}x{sched.resolution} "
                             f"({sched.minibatch}) is smaller than the {self.num_replicas} "
                             "replicas.")
        if sched.minibatch % (sched.minibatch_gpu * self.num_replicas):
            raise ValueError(f"the minibatch at {sched.resolution}x{sched.resolution} "
                             f"({sched.minibatch}) is not a multiple of {sched.minibatch_gpu} "
                             f"samples per pass times {self.num_replicas} replica(s) (set "
                             "sched.minibatch_gpu_base / sched.minibatch_gpu_dict).")
        return sched

    def rounds(self, sched):
        """Passes per minibatch whose gradients accumulate (StyleGAN2's minibatch_gpu)."""
        return sched.minibatch // (sched.minibatch_gpu * self.num_replicas)

    # ---- snapshot grid: reals from one shuffled batch, fixed latents, Gs in validation mode ----

    def setup_grid(self, rng):
        config, training_set = self.config, self.training_set
        self.grid_size = config_lib.grid_size(config.grid.size, training_set.resolution)
        grid_count = self.grid_size[0] * self.grid_size[1]
        self.grid_latents = rng.randn(grid_count, self.trainer.G.latent_size).astype(np.float32)
        final = self.schedule_at(int(config.total_kimg * 1000))
        self.grid_batch = max(final.minibatch_gpu if config.loop == "stylegan2"
                              else final.minibatch // self.num_replicas, 1)
        if not self.run_dir:
            return
        grid_reals, grid_labels = next(iter(training_set.make_dataset(
            0, grid_count, shuffle=True, repeat=True, seed=config.random_seed)))
        self.grid_labels = grid_labels.numpy()
        self.log("Setting up snapshot image grid...")
        images.save_image_grid(grid_reals.numpy(), os.path.join(self.run_dir, "reals.png"),
                               [0, 255], self.grid_size)
        self.save_fakes("fakes-init.png")

    def save_fakes(self, filename):
        fakes = self.trainer.generate(self.grid_latents, self.grid_labels, self.grid_batch)
        drange = self.config.drange_net
        images.save_image_grid(fakes, os.path.join(self.run_dir, filename), drange,
                               self.grid_size)
        self.summary_writer.image("fakes", images.grid_uint8(fakes, self.grid_size, drange),
                                  self.state.cur_nimg)

    # ---- the loop ------------------------------------------------------------------------------

    def train(self):
        config, state, trainer = self.config, self.state, self.trainer
        self.log("Training...\n")
        now = time.time()
        tick = _Tick(nimg=state.cur_nimg, time=now, maintenance_time=now - self.start_time)
        self.time_offset = state.total_time
        # Ticks count per run, as the originals' (kimg continues on resume); StyleGAN2's first
        # tick, tick 0, ends after the first minibatch.
        stylegan2 = config.loop == "stylegan2"
        self.cur_tick = -1 if stylegan2 else 0
        self.first_tick = self.cur_tick + 1  # always snapshots
        first_check = stylegan2
        data_key, data_iter = None, None
        total_nimg = int(round(config.total_kimg * 1000))
        stop = False
        while state.cur_nimg < total_nimg and not stop:
            sched = self.schedule_at(state.cur_nimg)
            key = (int(np.floor(sched.lod)), sched.minibatch)
            if key != data_key:  # the original's dataset.configure(): new file or minibatch
                data_key = key
                data_iter = iter(self.training_set.distribute(
                    self.strategy, sched.lod, sched.minibatch, shuffle=True, repeat=True,
                    seed=config.random_seed + state.cur_nimg))
            if config.reset_opt_for_new_lod and schedule.should_reset_optimizers(
                    state.prev_lod, sched.lod):
                trainer.reset_optimizers()
            state.prev_lod = sched.lod
            self.run_minibatches(sched, data_iter)
            done = state.cur_nimg >= total_nimg
            if first_check or state.cur_nimg >= tick.nimg + sched.tick_kimg * 1000 or done:
                first_check = False
                stop = self.end_tick(sched, tick, done)
        if self.run_dir:
            resume.save_snapshot(trainer, self.run_dir, "network-final.pkl", state, 0)
            self.summary_writer.close()
            self.log("Done." if not stop else "Stopped (abort.txt).")

    def run_minibatches(self, sched, data_iter):
        """`minibatch_repeats` minibatches, each the loop's phases in order (`training.phases`)."""
        trainer, stats, state = self.trainer, self.stats, self.state
        rounds = self.rounds(sched)
        nimg_at_start = state.cur_nimg  # StyleGAN2-ADA's Gs ramp is set once per repeats
        for _ in range(self.config.minibatch_repeats):
            reals = labels = None
            for phase in self.phases:
                if not phase.is_due(state.mb_counter):
                    continue
                lrate = sched.G_lrate if phase.lrate == "G" else sched.D_lrate
                for _ in range(phase.repeats):
                    if phase.new_reals:
                        reals, labels = next(data_iter)
                        state.cur_nimg += sched.minibatch
                    stats.add_step(trainer.run_phase(phase.name, sched.lod, lrate, sched.minibatch, rounds,
                                                     reals, labels, nimg_at_start))
                    if phase.log_lrate:
                        ratio = trainer.G_ratio if phase.network == "G" else trainer.D_ratio
                        stats.add_scalar(f"Train{phase.network}/learning_rate", trainer.scaled_lrate(lrate, ratio))
            state.mb_counter += 1

    def end_tick(self, sched, tick, done):
        """Maintenance once per tick: log line, abort check, images, snapshots, statistics.
        Updates `tick` to the next one; returns True when abort.txt stops the run."""
        state = self.state
        self.cur_tick += 1
        state.cur_tick = self.cur_tick
        tick_kimg = (state.cur_nimg - tick.nimg) / 1000.0
        tick.nimg = state.cur_nimg
        means = self.stats.means()  # waits for the tick's steps to finish
        now = time.time()
        tick_time = now - tick.time
        total_time = now - self.start_time + self.time_offset
        state.total_time = total_time
        progress = {
            "Progress/tick": self.cur_tick, "Progress/kimg": state.cur_nimg / 1000.0,
            "Progress/lod": sched.lod, "Progress/minibatch": sched.minibatch,
            "Timing/total_sec": total_time, "Timing/sec_per_tick": tick_time,
            "Timing/sec_per_kimg": tick_time / tick_kimg,
            "Timing/maintenance_sec": tick.maintenance_time,
            "Resources/peak_gpu_mem_gb": peak_gpu_memory_gb(),
            "Timing/total_hours": total_time / 3600.0, "Timing/total_days": total_time / 86400.0}
        skipped_note, diverged = skipped_updates(means, self.stats.trailing_skips, self.cur_tick)
        augment_note = ""
        if self.trainer.augment is not None:  # the ADA release's field, and r_t
            p = self.trainer.augment.p_value(self.strategy)
            means["Progress/augment"] = p  # its value now, not the tick's mean
            augment_note = f" augment {p:.3f} rt {means.get('Augment/rt', float('nan')):.3f}"
        self.log("tick %-5d kimg %-8.1f lod %-5.2f minibatch %-4d time %-12s sec/tick %-7.1f "
                 "sec/kimg %-7.2f maintenance %-6.1f gpumem %-4.1f" % (
                     self.cur_tick, state.cur_nimg / 1000.0, sched.lod, sched.minibatch,
                     cli.format_time(total_time), tick_time, tick_time / tick_kimg,
                     tick.maintenance_time, progress["Resources/peak_gpu_mem_gb"]) + augment_note + skipped_note)

        abort = bool(self.run_dir) and os.path.exists(os.path.join(self.run_dir, "abort.txt"))
        stop = self.trainer.agree(abort)
        if self.run_dir:  # a diverged tick is reported, but its networks are not saved
            self.write_tick_outputs(done or stop, {**progress, **means}, images_and_snapshot=not diverged)
        if diverged:
            kept = snapshots.list_network_pkls(self.run_dir) if self.run_dir else []
            raise TrainingDivergedError(
                f"training diverged: {diverged} as non-finite (lower the learning rates, or resume "
                "from an earlier snapshot)"
                + (f'; the last snapshot, {os.path.basename(kept[-1])}, is in "{self.run_dir}"' if kept
                   else "; no snapshot was written before"))
        tick.time = time.time()
        tick.maintenance_time = tick.time - now
        return stop

    def write_tick_outputs(self, done, values, images_and_snapshot=True):
        """The tick's statistics, image grid and snapshot, in that order: a snapshot on disk implies
        that its tick was reported (a run killed right after it leaves nothing unlogged)."""
        config, state = self.config, self.state
        for name, value in values.items():
            self.summary_writer.scalar(name, value, state.cur_nimg)
        self.summary_writer.flush()
        with open(os.path.join(self.run_dir, "stats.jsonl"), "a", encoding="utf-8") as file:
            file.write(json.dumps({name: float(value) for name, value in values.items()}) + "\n")
        if not images_and_snapshot:
            return
        if self.cur_tick % config.image_snapshot_ticks == 0 or done:
            self.save_fakes(f"fakes{state.cur_nimg // 1000:06d}.png")
        if self.cur_tick % config.network_snapshot_ticks == 0 or done or self.cur_tick == self.first_tick:
            resume.save_snapshot(self.trainer, self.run_dir, snapshots.snapshot_name(state.cur_nimg // 1000), state,
                                 config.snapshot_keep)
