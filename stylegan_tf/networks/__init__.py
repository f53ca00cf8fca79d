"""The networks as Keras models, channels-last, with every variable named by its original name.

`stylegan`: the StyleGAN release's `G_style` (`Generator`), `G_mapping` (`Mapping`), `G_synthesis`
(`Synthesis`) and `D_basic` (`Discriminator`). `base`: what the families share.
"""

from stylegan_tf.networks.base import mix_at_cutoff, truncate_dlatents
from stylegan_tf.networks.stylegan import (
                                           D_BASIC_DEFAULTS,
                                           G_STYLE_DEFAULTS,
                                           GENERATOR_KWARGS,
                                           MAPPING_DEFAULTS,
                                           SYNTHESIS_DEFAULTS,
                                           Discriminator,
                                           Generator,
                                           Mapping,
                                           Synthesis,
)

__all__ = ["D_BASIC_DEFAULTS", "G_STYLE_DEFAULTS", "GENERATOR_KWARGS", "MAPPING_DEFAULTS",
           "SYNTHESIS_DEFAULTS", "Discriminator", "Generator", "Mapping", "Synthesis",
           "mix_at_cutoff", "truncate_dlatents"]
