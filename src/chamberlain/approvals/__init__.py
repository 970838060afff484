"""Human approval of parked calls: roles, the approval store and the runner."""

from ._desk import ApprovalDesk
from ._roles import APPROVER, ROLES, Roles
from ._runner import ApprovedCalls
from ._service import Approvals, request_hash

__all__ = ["APPROVER", "ROLES", "ApprovalDesk", "Approvals", "ApprovedCalls", "Roles", "request_hash"]
