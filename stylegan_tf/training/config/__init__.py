"""Training configuration: dataclasses and the named presets of the original `train.py`.

StyleGAN presets are `<dataset>[-<N>gpu][-<variant>...]`, e.g. `ffhq-8gpu`, `celebahq-4gpu-wgangp`,
`ffhq-1gpu-mix50` or `bedroom-2gpu-tuned-baseline`, which reproduce the StyleGAN release's `train.py`
with the matching lines enabled; `<N>gpu` defaults to 8 as in the original.

StyleGAN2 presets are the StyleGAN2 release's `run_training.py` configs, `[<dataset>-]config-<a..f>`
and `[<dataset>-]config-e-G<arch>-D<arch>` (Table 2; arch orig, skip or resnet), e.g. `config-f` or
`car-config-e-Gorig-Dresnet`. The dataset prefix (default ffhq) names the dataset directory and
brings its README command's settings (total kimg, gamma, mirroring); its minibatch tables do not
depend on the number of GPUs (a replica processes 4 samples per pass and accumulates the rest).

`demo` and `demo-sg2` are small StyleGAN / StyleGAN2 (config E) configurations that train on an
embedded dataset in minutes on a CPU.

Resolve once with `resolve_config(name, overrides)`, log it and save it with `save_config_json`.
Three modules: `schema` (dataclasses, pure `validate()`), `presets`, `io` (overrides, config.json,
the original's config.txt); their public names are importable from here.
"""

from stylegan_tf.training.config.io import *  # noqa: F401,F403
from stylegan_tf.training.config.io import EFFECTIVE_KEY  # noqa: F401
from stylegan_tf.training.config.presets import *  # noqa: F401,F403
from stylegan_tf.training.config.schema import *  # noqa: F401,F403
