"""The errors a load can raise; each message names the fix.

* :class:`WeightsUnavailableError`: the pretrained weights are neither cached nor downloadable from here.
* :class:`GatedModelError`: the Hub refused a gated repository (licence not accepted yet, or no token).
* :class:`ChecksumError`: a downloaded file does not match its published sha256 (truncated or damaged).
* :class:`WeightsLoadError`: a cached file or folder is there but the model cannot be built from it (damaged
  without a checksum to tell, from another model, or an unsafe pickle that ``weights_only`` refused).
"""

from __future__ import annotations

__all__ = ["WeightsUnavailableError", "GatedModelError", "ChecksumError", "WeightsLoadError"]


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither in the cache nor downloadable from here."""


class GatedModelError(WeightsUnavailableError):
    """The Hub refused a gated repository (licence not accepted yet, or no token sent)."""


class ChecksumError(RuntimeError):
    """A weight file on disk does not match its sha256: truncated or damaged."""


class WeightsLoadError(RuntimeError):
    """A cached weight file or snapshot folder could not be loaded into the model (the message says how to
    re-download it)."""
