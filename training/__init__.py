"""LoRA SFT of the target (TRL + peft) and loading the target; knows nothing of graphs or agents.

Import from the modules (`lai.training.sft`, `.jobs`, `.target`, `.config`): importing `sft` here would
make `python -m lai.training.sft` load it twice.
"""
