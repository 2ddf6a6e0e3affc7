"""Agents' own sign-in, sign-out and password reset by e-mail, in the inbox's look, plus the
language choice of the user menu. Django's auth views do the work; these only name the templates
and send the reset e-mail in the language of the person who receives it."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.services import user_language_set


class UserLanguagePasswordResetForm(PasswordResetForm):
    """The reset e-mail speaks the recipient's language, not the language of the page that
    asked for it (an Italian agent's link may be requested from an English browser)."""

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        language = getattr(context.get("user"), "language", "") or translation.get_language()
        with translation.override(language):
            super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)


login_view = auth_views.LoginView.as_view(
    template_name="inbox/auth/login.html", redirect_authenticated_user=True
)
logout_view = auth_views.LogoutView.as_view(next_page="inbox:login")
password_reset_view = auth_views.PasswordResetView.as_view(
    form_class=UserLanguagePasswordResetForm,
    template_name="inbox/auth/password_reset_form.html",
    email_template_name="inbox/auth/password_reset_email.txt",
    subject_template_name="inbox/auth/password_reset_subject.txt",
    success_url=reverse_lazy("inbox:password-reset-done"),
)
password_reset_done_view = auth_views.PasswordResetDoneView.as_view(
    template_name="inbox/auth/password_reset_done.html"
)
password_reset_confirm_view = auth_views.PasswordResetConfirmView.as_view(
    template_name="inbox/auth/password_reset_confirm.html",
    success_url=reverse_lazy("inbox:password-reset-complete"),
)
password_reset_complete_view = auth_views.PasswordResetCompleteView.as_view(
    template_name="inbox/auth/password_reset_complete.html"
)


@login_required
@require_POST
def language_view(request):
    """Save the user's language and go back where they were, now in that language."""
    language = request.POST.get("language", "")
    try:
        user_language_set(user=request.user, language=language)
    except ValueError:
        return HttpResponseBadRequest("Unknown language.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("inbox:index")
    response = redirect(back)
    # The cookie keeps the sign-in page in the same language after signing out.
    if language:
        response.set_cookie("django_language", language, max_age=365 * 24 * 3600, samesite="Lax")
    else:
        response.delete_cookie("django_language")
    return response
