"""Building blocks and man-made model families (CIFAR ResNet / WRN, MobileNetV2), chosen by an arch name."""
from .blocks import Classifier, ConvBNAct, Head, MBConv, SepConv, SqueezeExcite, pool
from .families import FAMILIES, build_model, canonical_arch, parse_arch
from .mobilenet import MobileNetV2
from .resnet import BasicBlock, CifarResNet, WideResNet
from .student import Student, man_made

__all__ = [
    "BasicBlock", "CifarResNet", "Classifier", "ConvBNAct", "FAMILIES", "Head", "MBConv", "MobileNetV2", "SepConv",
    "SqueezeExcite", "Student", "WideResNet", "build_model", "canonical_arch", "man_made", "parse_arch", "pool",
]
