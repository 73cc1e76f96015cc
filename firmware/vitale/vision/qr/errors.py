"""Error base of the QR decoder: every stage raises a subclass with a reason."""


class QRError(ValueError):
    """A QR symbol could not be decoded; str(e) says why."""
