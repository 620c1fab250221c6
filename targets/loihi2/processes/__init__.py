"""Lava Processes of the loihi2 target. Lava's compiler imports every .py file beside a Process's
own file when it looks for models, so this folder holds importable modules only."""
