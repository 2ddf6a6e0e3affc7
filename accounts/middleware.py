"""The signed-in user's own language wins over the browser's.

Django's LocaleMiddleware picks a language from the URL, the language cookie or Accept-Language
before anyone is known; this runs after AuthenticationMiddleware and replaces that choice with the
language saved on the user, so the inbox and the admin follow the user menu, not the browser.
"""

from django.utils import translation


class UserLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None else ""
        if language and user.is_authenticated:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
