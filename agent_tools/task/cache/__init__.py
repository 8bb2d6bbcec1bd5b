"""Result caching: the `cache` setting of a template (`settings`), the key of one
run (`keys`), and the store (`store`): SQLite on disk, written and read back as
plain data only (`plain`), by a bounded reader (`reader`, `bounds`).

A cached run is keyed by everything that decides its result: the source, the
input values (less `Cache.ignored_inputs`), the output type, the name and
signature of every registered function, the template's `env_vars`, each declared
secret's name with a hash of its value, and the `version` and `salt` of the
`Cache`. A result that holds a secret value is never stored.
"""

from agent_tools.task.cache.keys import cache_key
from agent_tools.task.cache.settings import Cache, CacheBehavior, CacheRequest, normalize_cache
from agent_tools.task.cache.store import CacheStore, default_cache_path, get_store, set_cache_path

__all__ = [
    "Cache",
    "CacheBehavior",
    "CacheRequest",
    "CacheStore",
    "cache_key",
    "default_cache_path",
    "get_store",
    "normalize_cache",
    "set_cache_path",
]
