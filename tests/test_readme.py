import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 2, "README keeps exactly two set-up commands"
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == blocks[1].strip()
    assert "pip install torch==2.13.0" in blocks[0] and "distillnas" in blocks[0]


def test_the_readme_python_example_imports_what_exists():
    """The example's names come from where the package keeps them (run it for real by hand)."""
    blocks = re.findall(r"```python\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    assert blocks
    for block in blocks:
        imports = "\n".join(line for line in block.splitlines() if line.startswith(("from ", "import ")))
        exec(compile(imports, "README.md", "exec"), {})
