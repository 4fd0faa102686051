"""Console views of the kernel that are not admin model pages."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from tenancy.middleware import ACTIVE_TENANT_SESSION_KEY
from tenancy.modules import CORE, requires_module
from tenancy.selectors.access import user_tenant_roles


@requires_module(CORE)
@require_POST
@staff_member_required
def tenant_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's tenants the active one for this session."""
    wanted = request.POST.get("tenant_id", "")
    memberships = user_tenant_roles(user_id=int(request.user.pk or 0))
    if wanted not in {str(t) for t in memberships}:
        return HttpResponseBadRequest("You are not a member of that tenant.")
    request.session[ACTIVE_TENANT_SESSION_KEY] = wanted
    messages.info(request, "Active tenant switched.")
    target = request.POST.get("next", "/admin/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/admin/"
    return HttpResponseRedirect(target)
