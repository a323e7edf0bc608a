import pytest
import torch

from distillnas.errors import DistillnasError
from distillnas.cost import count_params
from distillnas.models import build_model, canonical_arch


@pytest.mark.parametrize("arch,params", [("resnet20", 272_474), ("resnet56", 855_770), ("resnet110", 1_730_714)])
def test_cifar_resnet_sizes_match_the_usual_counts(arch, params):
    # He et al. report 0.27M / 0.85M / 1.7M for CIFAR-10 (1x1 projection shortcuts add a little)
    assert count_params(build_model(arch, 10, 3, 32)) == params


@pytest.mark.parametrize("arch", ["resnet8-w0.5", "resnet-1-3-5", "wrn-10-2", "mobilenetv2-w0.25"])
def test_models_give_logits_and_penultimate_features(arch):
    m = build_model(arch, 7, in_channels=1, input_size=28)
    x = torch.randn(3, 1, 28, 28)
    f = m.forward_features(x)
    assert f.shape == (3, m.num_features)
    assert torch.allclose(m.classifier(f), m(x))
    assert m(x).shape == (3, 7)


def test_arch_names_round_trip():
    for name in ["resnet20", "resnet-1-3-5", "resnet32-w0.5", "wrn-16-4", "mobilenetv2", "mobilenetv2-w0.5"]:
        assert canonical_arch(name) == name
        assert canonical_arch(canonical_arch(name)) == name
    assert canonical_arch("resnet-3-3-3") == "resnet20"
    assert canonical_arch("ResNet20-w1") == "resnet20"


@pytest.mark.parametrize("bad,msg", [
    ("vgg16", "unknown model family 'vgg'"), ("resnet21", "6n \\+ 2"), ("resnetx", "6n \\+ 2"),
    ("resnet-1-2", "3 per-stage depths"), ("resnet-0-1-1", "depths must be >= 1"), ("wrn-15-2", "wrn-DEPTH-K"),
    ("resnet20-wabc", "bad width"), ("mobilenetv2-3", "only an optional -wX"),
])
def test_bad_arch_names(bad, msg):
    with pytest.raises(DistillnasError, match=msg):
        build_model(bad, 10)
