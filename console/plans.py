"""Which plan may migrate into which (DESIGN §4), written once for forms, API and service.

| source \\ target | Free | Serverless | Dedicated |
| Free            | no   | no (upgrade instead) | yes |
| Serverless      | no   | yes        | yes       |
| Dedicated       | no   | no         | yes       |

A source from another organization has no plan: any Serverless or Dedicated target is allowed.
"""

from __future__ import annotations

from console.models import Cluster

Plan = Cluster.Plan


def target_refusal(source_plan: str | None, target_plan: str) -> str | None:
    """Why a cluster of `target_plan` cannot receive a migration from `source_plan`, or None.

    `source_plan` None means a source from another organization.
    """
    if target_plan == Plan.FREE:
        return "a Free cluster cannot be a migration target"
    if source_plan == Plan.FREE and target_plan == Plan.SERVERLESS:
        return (
            "a Free cluster cannot migrate to a Serverless cluster: upgrade it to Serverless "
            "instead"
        )
    if source_plan == Plan.DEDICATED and target_plan != Plan.DEDICATED:
        return "a Dedicated cluster can only migrate to a Dedicated cluster"
    return None
