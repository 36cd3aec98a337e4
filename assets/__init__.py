"""Asset factories: the road pull -> reconcile -> plan + check -> push, per entity."""

from assets.factory import entity_assets

__all__ = ["entity_assets"]
