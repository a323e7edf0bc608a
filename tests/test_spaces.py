import numpy as np
import pytest
import torch

from distillnas.arch import mutate_arch, neighbours
from distillnas.errors import DistillnasError
from distillnas.spaces import build_space
from distillnas.spaces.base import Decision


@pytest.mark.parametrize("preset,size,ch,dims", [("tiny", 28, 1, 114), ("cifar", 32, 3, 116)])
def test_mnasnet_round_trips_and_builds(preset, size, ch, dims):
    space = build_space("mnasnet", preset=preset)
    rng = np.random.default_rng(0)
    assert len(space.decisions) == 42 and len(space.one_hot(space.sample(rng))) == dims
    for _ in range(5):
        arch = space.sample(rng)
        text = space.to_string(arch)
        assert space.from_string(text) == arch and space.to_string(space.from_string(text)) == text
        assert space.one_hot(arch).sum() == len(space.decisions)
    model = space.build(arch, 10, ch, size)
    assert model(torch.randn(2, ch, size, size)).shape == (2, 10)


def test_mnasnet_options_change_the_network():
    space = build_space("mnasnet", blocks=2)
    base = "mb6_k3_se0_no_w1_d0|mb6_k3_se0_no_w1_d0"
    params = lambda s: sum(p.numel() for p in space.build(space.from_string(s), 10, 1, 28).parameters())  # noqa: E731
    assert params("mb6_k5_se0_no_w1_d0|mb6_k3_se0_no_w1_d0") > params(base)  # bigger kernel
    assert params("mb6_k3_se0.25_no_w1_d0|mb6_k3_se0_no_w1_d0") > params(base)  # squeeze-excite
    assert params("mb6_k3_se0_no_w1.25_d0|mb6_k3_se0_no_w1_d0") > params(base)  # wider
    assert params("mb6_k3_se0_no_w1_d0|mb6_k3_se0_no_w1_d+1") > params(base)  # deeper
    assert params("dconv_k3_se0_no_w1_d0|mb6_k3_se0_no_w1_d0") < params(base)
    # identity skip only where shapes allow: block 1 of 'tiny' has stride 2, so only its later layers add x
    model = space.build(space.from_string("mb6_k3_se0_id_w1_d0|mb6_k3_se0_id_w1_d+1"), 10, 1, 28)
    assert [layer.residual for layer in model.layers] == [True, False, True]
    # pooling skip: also a parameter-free shortcut on the strided first layer
    pooled = space.build(space.from_string("mb6_k3_se0_pool_w1_d0|mb6_k3_se0_pool_w1_d+1"), 10, 1, 28)
    assert [layer.shortcut is not None for layer in pooled.layers] == [False, True, False]
    assert params("mb6_k3_se0_pool_w1_d0|mb6_k3_se0_pool_w1_d+1") == \
        params("mb6_k3_se0_id_w1_d0|mb6_k3_se0_id_w1_d+1")
    x = torch.randn(2, 1, 28, 28)
    model.eval(), pooled.eval()
    pooled.load_state_dict(model.state_dict())
    assert not torch.allclose(model(x), pooled(x))


@pytest.mark.parametrize("preset", ["tiny", "cifar", "imagenet"])
def test_no_two_options_of_a_width_or_depth_decision_build_the_same_network(preset):
    """Aliases merged: in tiny's block 0 (8 channels, depth 1) w0.75 == w1 and d-1 == d0."""
    space = build_space("mnasnet", preset=preset)
    for i in range(space.num_blocks):
        from distillnas.models.blocks import round_channels as _round
        channels = [_round(space.base.widths[i] * w, space.base.divisor) for w in space.block_widths(i)]
        layers = [max(1, space.base.depths[i] + d) for d in space.block_depths(i)]
        assert len(set(channels)) == len(channels) and len(set(layers)) == len(layers)
        assert 1.0 in space.block_widths(i) and 0 in space.block_depths(i)
    if preset == "tiny":
        assert space.block_widths(0) == (1.0, 1.25) and space.block_depths(0) == (0, 1)
        with pytest.raises(DistillnasError, match="b0.depth=-1 is not in the space \\(allowed: 0, 1\\)"):
            space.from_string("|".join(["mb6_k3_se0_no_w1_d-1"] * 7))


@pytest.mark.parametrize("text,msg", [
    ("mb6_k3_se0_no_w1_d0", "has 1 blocks; this space has 7"),
    ("|".join(["mb6_k7_se0_no_w1_d0"] * 7), "kernel=7 is not in the space \\(allowed: 3, 5\\)"),
    ("|".join(["mb9_k3_se0_no_w1_d0"] * 7), "op='mb9' is not in the space"),
    ("|".join(["mb6_k3_se0_no_w2_d0"] * 7), "width=2.0 is not in the space"),
    ("|".join(["mb6-k3"] * 7), "malformed mnasnet block"),
])
def test_mnasnet_strict_parsing(text, msg):
    with pytest.raises(DistillnasError, match=msg):
        build_space("mnasnet").from_string(text)


def test_resnet_depth_space_is_diswot_s1():
    space = build_space("resnet_depth")
    assert space.cardinality == 64 and space.sizes == [4, 4, 4]
    arch = space.from_string("resnet-5-5-7")
    assert space.code(arch) == "557" and space.to_string(arch) == "resnet-5-5-7"
    assert sum(p.numel() for p in space.build(arch, 100, 3, 32).parameters()) > 0
    with pytest.raises(DistillnasError, match="depth=2 is not in the space"):
        space.from_string("resnet-2-5-7")
    with pytest.raises(DistillnasError, match="token 9"):
        space.validate((9, 0, 0))
    with pytest.raises(DistillnasError, match="unknown search space 'nasnet'"):
        build_space("nasnet")


def test_mutation_changes_exactly_one_decision():
    space = build_space("mnasnet")
    rng = np.random.default_rng(1)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    assert sum(a != b for a, b in zip(arch, child)) == 1


def test_ordered_decisions_are_the_numeric_ones_and_survive_restriction():
    space = build_space("mnasnet", blocks=2)
    assert {d.kind for d in space.decisions if d.ordered} == {"kernel", "se", "width", "depth"}
    assert {d.kind for d in space.decisions if not d.ordered} == {"op", "skip"}
    narrow = build_space("mnasnet", blocks=2, restrict={"b*.kernel": [5], "b0.op": ["mb3", "mb6"]})
    assert narrow.ordered == space.ordered
    assert build_space("resnet_depth").ordered == [True] * 3
    assert build_space("resnet_depth", depths=[7, 1, 3]).ordered == [False] * 3  # tokens keep the user's order
    assert not any(build_space("addon", backbone="resnet20").ordered)
    with pytest.raises(DistillnasError, match="ordered decision needs increasing numbers"):
        Decision("b0.op", "op", ("conv", "dconv"), ordered=True)
    with pytest.raises(DistillnasError, match="ordered decision needs increasing numbers"):
        Decision("b0.depth", "depth", (3, 1), ordered=True)


def test_an_ordered_decision_mutates_one_step():
    rng = np.random.default_rng(0)
    sizes, ordered = [4, 4], [True, False]
    moves = {(a, mutate_arch((a, 0), sizes, rng, ordered)[0]) for a in range(4) for _ in range(40)}
    assert {abs(a - b) for a, b in moves if a != b} == {1}  # the ordered decision: neighbours only
    assert {(0, 1), (1, 0), (1, 2), (2, 3), (3, 2)} <= moves
    unordered = {mutate_arch((0, 0), sizes, rng, ordered)[1] for _ in range(60)}
    assert unordered == {0, 1, 2, 3}  # the unordered one (or the other decision) can jump anywhere


def test_neighbours_are_exactly_what_one_mutation_reaches():
    rng = np.random.default_rng(0)
    sizes, ordered = [4, 3, 1], [True, False, True]
    for arch in [(0, 0, 0), (2, 1, 0), (3, 2, 0)]:
        reached = {mutate_arch(arch, sizes, rng, ordered) for _ in range(300)}
        assert set(neighbours(arch, sizes, ordered)) == reached
        assert len(neighbours(arch, sizes, ordered)) == len(reached)  # each once
    assert sorted(neighbours((1, 0, 0), sizes, ordered)) == [(0, 0, 0), (1, 1, 0), (1, 2, 0), (2, 0, 0)]
