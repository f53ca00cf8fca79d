"""The networks as Keras models, channels-last, with every variable named by its original name.

`stylegan`: the StyleGAN release's `G_style` (`Generator`), `G_mapping` (`Mapping`) and `G_synthesis`
(`Synthesis`); `stylegan_discriminator`: its `D_basic` (`Discriminator`). `stylegan2`: the StyleGAN2 release's `G_main`
(`GeneratorMain`) with `G_mapping` (`MappingStyleGAN2`), `G_synthesis_stylegan2`
(`SynthesisStyleGAN2`) or `G_synthesis_stylegan_revised` (`SynthesisRevised`);
`stylegan2_discriminators`: its `D_stylegan2` (`DiscriminatorStyleGAN2`) and `D_stylegan`
(`DiscriminatorRevised`). `ada`: StyleGAN2-ADA's TF release's `G_main` (`GeneratorADA`), `G_mapping`
(`MappingADA`), `G_synthesis` (`SynthesisADA`) and `D_main` (`DiscriminatorADA`), and Freeze-D's
layer order. `stylegan3`: StyleGAN3's generator (`GeneratorSG3`, `SynthesisSG3`; inference only), read
from its PyTorch pickles. `base`: what they share; `truncation`: the releases' truncation and mixing; `runtime`:
how a network computes (op forms, precision), chosen when it is built.
"""

from stylegan_tf.networks.ada import DiscriminatorADA, GeneratorADA, MappingADA, SynthesisADA, frozen_layer_scopes
from stylegan_tf.networks.stylegan import (
    G_STYLE_DEFAULTS,
    GENERATOR_KWARGS,
    MAPPING_DEFAULTS,
    SYNTHESIS_DEFAULTS,
    Generator,
    Mapping,
    Synthesis,
)
from stylegan_tf.networks.stylegan2 import GeneratorMain, MappingStyleGAN2, SynthesisRevised, SynthesisStyleGAN2
from stylegan_tf.networks.stylegan2_discriminators import DiscriminatorRevised, DiscriminatorStyleGAN2
from stylegan_tf.networks.stylegan3 import GeneratorSG3, SynthesisSG3
from stylegan_tf.networks.stylegan_discriminator import D_BASIC_DEFAULTS, Discriminator
from stylegan_tf.networks.truncation import mix_at_cutoff, truncate_dlatents

# The releases' build functions, a pickle's `build_func_name`: StyleGAN and StyleGAN2 (state versions
# 2-4), and StyleGAN2-ADA (version 5), whose G_main shares the name of StyleGAN2's; StyleGAN3's generator,
# which no TF release has, is written under version 5 as 'G_stylegan3' (read by this project only).
BUILD_FUNCTIONS = {cls.FUNC_NAME: cls for cls in (Generator, GeneratorMain, Discriminator, DiscriminatorStyleGAN2,
                                                  DiscriminatorRevised)}
ADA_BUILD_FUNCTIONS = {cls.FUNC_NAME: cls for cls in (GeneratorADA, DiscriminatorADA, GeneratorSG3)}
# The networks a training config names (`G_func`, `D_func`; `names.G_FUNCS`, `names.D_FUNCS`), where
# StyleGAN2-ADA's G_main is "G_main_ada".
GENERATORS = {"G_style": Generator, "G_main": GeneratorMain, "G_main_ada": GeneratorADA}
DISCRIMINATORS = {"D_basic": Discriminator, "D_stylegan2": DiscriminatorStyleGAN2, "D_stylegan": DiscriminatorRevised,
                  "D_main": DiscriminatorADA}

__all__ = ["ADA_BUILD_FUNCTIONS", "BUILD_FUNCTIONS", "DISCRIMINATORS", "GENERATORS",
           "DiscriminatorADA", "GeneratorADA", "MappingADA", "SynthesisADA", "GeneratorSG3", "SynthesisSG3",
           "D_BASIC_DEFAULTS", "G_STYLE_DEFAULTS", "GENERATOR_KWARGS", "MAPPING_DEFAULTS", "SYNTHESIS_DEFAULTS",
           "Discriminator", "Generator", "Mapping", "Synthesis", "mix_at_cutoff", "truncate_dlatents",
           "DiscriminatorRevised", "DiscriminatorStyleGAN2", "GeneratorMain", "MappingStyleGAN2",
           "SynthesisRevised", "SynthesisStyleGAN2", "frozen_layer_scopes"]
