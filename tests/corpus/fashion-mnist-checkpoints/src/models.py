"""Stand-in for models.py: the model's size from its params."""


def size(model: dict) -> int:
    return model["mlp"]["units"] if model["name"] == "mlp" else model["cnn"]["dense_units"]
