"""Imports every ORM module so that ``Base.metadata`` knows all state tables (migrations, tests)."""

from chengyun.accounts import models as accounts_models  # noqa: F401
from chengyun.assets import models as assets_models  # noqa: F401
from chengyun.cases import models as cases_models  # noqa: F401
from chengyun.catalog import models as catalog_models  # noqa: F401
from chengyun.indicators import models as indicators_models  # noqa: F401
from chengyun.lake import changes as lake_changes  # noqa: F401
from chengyun.tenancy import models as tenancy_models  # noqa: F401
