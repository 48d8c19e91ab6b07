"""The one error every part of the equations front end raises."""


class EquationError(ValueError):
    """A model string that cannot be turned into a model: the message names the equation (or the
    argument), the offending term and what was expected."""
