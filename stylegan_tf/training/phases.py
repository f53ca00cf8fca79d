"""Both releases' training loops as data: each minibatch runs a list of phases in order.

A phase names the step it runs (`Trainer.run_phase`), the network it updates, how often it runs
(every `interval` minibatches, counted by the loop's minibatch counter), whether it draws a new real
minibatch, and how many times in a row it runs. The learning rate and Adam betas of a lazily
regularized network are scaled by interval / (interval + 1) (StyleGAN2's `mb_ratio`; the Trainer's
optimizers carry the ratio). No TensorFlow here.

    StyleGAN  (`training_loop.py` of the StyleGAN release):  D x D_repeats (new reals each), G
    StyleGAN2 (its `training_loop.py`):  G, G_reg every G_reg_interval, D, D_reg every D_reg_interval
              on the D step's reals; the regularization phases only with lazy regularization and a
              regularized loss (otherwise the regularizer is part of the G or D phase)
    StyleGAN2-ADA: either loop, plus the update of the augmentation probability at the end of every
              `minibatch_repeats` minibatches (with --aug=ada or fixed)
"""

import dataclasses

from stylegan_tf import names


@dataclasses.dataclass(frozen=True)
class Phase:
    """One step of a minibatch.

    name: 'G', 'G_reg', 'D' or 'D_reg' (the Trainer's steps `g_step`, `g_reg_step`, `d_step`,
        `d_reg_step`); network: 'G' or 'D', the one it updates; interval: run on minibatches whose
        counter is a multiple of it; new_reals: draw a real minibatch (D) or reuse the last (D_reg)
        or need none (G); repeats: consecutive runs; lrate: the schedule's learning rate it takes
        ('G' or 'D': StyleGAN2 feeds G's to both); log_lrate: record it as `Train<network>/learning_rate`;
        at_end: run on the last minibatch of each `interval` (counter + 1 a multiple of it), not the first.
    """
    name: str
    network: str
    interval: int = 1
    new_reals: bool = False
    repeats: int = 1
    lrate: str = "G"
    log_lrate: bool = True
    at_end: bool = False

    def is_due(self, minibatch_counter):
        return (minibatch_counter + int(self.at_end)) % self.interval == 0


def stylegan_phases(config):
    """The StyleGAN release's minibatch: `D_repeats` D steps on new reals, then one G step."""
    return [Phase("D", "D", new_reals=True, repeats=int(config.D_repeats), lrate="D"),
            Phase("G", "G", lrate="G")]


def stylegan2_phases(config):
    """The StyleGAN2 release's minibatch: G, the lazy G regularization, D (with the Gs update), the
    lazy D regularization on the same reals; every phase at G's learning rate."""
    lazy = bool(config.lazy_regularization)
    phases = [Phase("G", "G")]
    if lazy and config.G_loss.func_name in names.PATH_LENGTH_LOSSES:
        phases.append(Phase("G_reg", "G", interval=int(config.G_reg_interval), log_lrate=False))
    phases.append(Phase("D", "D", new_reals=True))
    if lazy and config.D_loss.func_name in names.R1_LOSSES:
        phases.append(Phase("D_reg", "D", interval=int(config.D_reg_interval), log_lrate=False))
    return phases


LOOP_PHASES = {"stylegan": stylegan_phases, "stylegan2": stylegan2_phases}


def augment_phases(config):
    """StyleGAN2-ADA's tuning of p after every `minibatch_repeats` minibatches (none without augmentation)."""
    if config.augment.mode == "noaug":
        return []
    return [Phase("augment", "D", interval=int(config.minibatch_repeats), log_lrate=False, at_end=True)]


def training_phases(config):
    """The phases of one minibatch of `config.loop` (and of the augmentation)."""
    return LOOP_PHASES[names.check_choice(config.loop, names.LOOPS, "loop")](config) + augment_phases(config)
