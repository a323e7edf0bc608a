"""Every packaged config validates and names a space that builds; the tabulation configs cover
their whole space at every rung (a grid budget short of it would leave a table with holes)."""
from __future__ import annotations

import itertools

import pytest

from distillnas.runconfig import load_search_config, packaged_configs
from distillnas.spaces import space_from_config


@pytest.mark.parametrize("name", sorted(packaged_configs()))
def test_every_packaged_config_validates_and_its_space_builds(name):
    cfg = load_search_config(name, [])
    assert cfg.name == name
    assert space_from_config(cfg.space).cardinality >= 2


@pytest.mark.parametrize("name", ["table_mnasnet_mnist5k", "table_resnet_fmnist", "table_mnasnet_fmnist"])
def test_a_tabulation_config_pays_for_every_arch_at_every_rung(name):
    cfg = load_search_config(name, [])
    archs = space_from_config(cfg.space).cardinality
    fidelity = cfg.evaluator.proxy.fidelity
    rungs = len(fidelity.epochs) if fidelity and fidelity.eta == 1 else 1
    assert cfg.strategy.name == "grid" and cfg.strategy.grid.max_archs == archs
    assert cfg.search.trials == archs * rungs


def test_the_fmnist_early_stopping_table_straddles_its_params_target():
    """Its constraint must cut the space (else the front is the accuracy ranking alone)."""
    from distillnas.cost import count_params

    cfg = load_search_config("table_mnasnet_fmnist", [])
    space = space_from_config(cfg.space)
    assert space.cardinality == 243
    sizes = [count_params(space.build(space.validate(list(t)), 10, 1, 28)) for t in _corners(space.sizes)]
    assert min(sizes) < cfg.reward.target < max(sizes)


def _corners(sizes: list[int]) -> list[tuple[int, ...]]:
    """The all-first and all-last option archs (the smallest and the largest here)."""
    return [tuple(0 for _ in sizes), tuple(n - 1 for n in sizes)]


def test_the_mnist5k216_tables_cover_their_configs_space_and_straddle_its_target():
    """Every shipped rung of the mnist5k216 ladder holds exactly the config's 216 students (a
    search over it never asks for one a table lacks), and the MACs target cuts the space."""
    from distillnas.benchmarks import read_benchmark
    from distillnas.benchmarks.tables import packaged_tables

    cfg = load_search_config("akd_mnist5k216_table", [])
    space = space_from_config(cfg.space)
    keys = {space.table_key(space.validate(list(t))) for t in _all(space.sizes)}
    assert len(keys) == space.cardinality == 216
    names = [n for n in packaged_tables() if n.startswith("mnist5k216_")]
    assert len(names) == 13 and cfg.evaluator.table in names
    for name in names:
        assert set(read_benchmark(name).accuracy) == keys, name
    main = read_benchmark(cfg.evaluator.table)
    macs = [float(dict(zip(main.columns, row))["macs"]) for row in main.rows.values()]
    assert min(macs) < cfg.reward.target < max(macs)


def _all(sizes: list[int]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(n) for n in sizes)))
