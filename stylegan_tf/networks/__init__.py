"""The networks as Keras models, channels-last, with every variable named by its original name.

`stylegan`: the StyleGAN release's `G_style` (`Generator`), `G_mapping` (`Mapping`), `G_synthesis`
(`Synthesis`) and `D_basic` (`Discriminator`). `stylegan2`: the StyleGAN2 release's `G_main`
(`GeneratorMain`) with `G_mapping` (`MappingStyleGAN2`), `G_synthesis_stylegan2`
(`SynthesisStyleGAN2`) or `G_synthesis_stylegan_revised` (`SynthesisRevised`), and `D_stylegan2`
(`DiscriminatorStyleGAN2`) and `D_stylegan` (`DiscriminatorRevised`). `base`: what they share;
`truncation`: both releases' truncation and mixing; `runtime`: how a network computes (op forms,
precision), chosen when it is built.
"""

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
from stylegan_tf.networks.stylegan2 import (
                                           DiscriminatorRevised,
                                           DiscriminatorStyleGAN2,
                                           GeneratorMain,
                                           MappingStyleGAN2,
                                           SynthesisRevised,
                                           SynthesisStyleGAN2,
)
from stylegan_tf.networks.truncation import mix_at_cutoff, truncate_dlatents

# The build functions of the releases (a pickle's `build_func_name`, a training config's G_func/D_func).
GENERATORS = {cls.FUNC_NAME: cls for cls in (Generator, GeneratorMain)}
DISCRIMINATORS = {cls.FUNC_NAME: cls for cls in (Discriminator, DiscriminatorStyleGAN2, DiscriminatorRevised)}
BUILD_FUNCTIONS = {**GENERATORS, **DISCRIMINATORS}

__all__ = ["BUILD_FUNCTIONS", "DISCRIMINATORS", "GENERATORS",
           "D_BASIC_DEFAULTS", "G_STYLE_DEFAULTS", "GENERATOR_KWARGS", "MAPPING_DEFAULTS", "SYNTHESIS_DEFAULTS",
           "Discriminator", "Generator", "Mapping", "Synthesis", "mix_at_cutoff", "truncate_dlatents",
           "DiscriminatorRevised", "DiscriminatorStyleGAN2", "GeneratorMain", "MappingStyleGAN2",
           "SynthesisRevised", "SynthesisStyleGAN2"]
