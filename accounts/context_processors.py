"""What the user menu on every inbox page needs: the languages, the user's own, and whether the
reports link shows."""

from django.conf import settings

from accounts.selectors import user_may_see_reports


def user_menu(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "menu_languages": settings.LANGUAGES,
        "menu_language": user.language,
        # A callable, resolved only by templates that show the menu: admin pages, whose query
        # counts are tested, never pay for it.
        "menu_reports": lambda: user_may_see_reports(user=user),
    }
