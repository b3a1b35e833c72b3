"""Unified portal measures (统一门户): online availability of services, usage, 好差评 ratings."""

from __future__ import annotations

from chengyun.analytics.kit import on_table, ratio, single

MOBILE = ("app", "miniprogram")




MEASURES = [
    on_table("portal.online_service_rate", "网上可办率", "Services available online", "ratio", "higher", "services",
       lambda s, c: {"online": s.count(where=s.online), "n": s.count()}, ratio("online", "n"),
       "Share of published government services that can be applied for online."),
    on_table("portal.one_stop_rate", "一站式办理率", "One-stop service rate", "ratio", "higher", "services",
       lambda s, c: {"one_stop": s.count(where=s.one_stop), "n": s.count()}, ratio("one_stop", "n"),
       "Share of published services handled end to end at one window or one online entry."),
    on_table("portal.e_license_rate", "电子证照使用率", "Electronic licence use", "ratio", "higher", "services",
       lambda s, c: {"e_license": s.count(where=s.e_license), "n": s.count()}, ratio("e_license", "n"),
       "Share of services that accept electronic licences keyed by citizen or organisation identifier."),
    on_table("portal.mobile_service_rate", "移动端可办率", "Services available on mobile", "ratio", "higher", "services",
       lambda s, c: {"mobile": s.count(where=s.mobile), "n": s.count()}, ratio("mobile", "n"),
       "Share of published services that can be used from the city app or mini-program."),
    on_table("portal.online_completion_rate", "全程网办率", "Completed fully online", "ratio", "higher", "portal_usage",
       lambda u, c: {"online": u.count(where=(u.action == "complete") & u.completed_online),
                     "done": u.count(where=u.action == "complete")},
       ratio("online", "done"), "Share of completed applications that never needed a visit."),
    on_table("portal.active_users_per_10k", "万人活跃用户数", "Active users per 10,000 residents", "per 10k", "higher",
       "portal_usage", lambda u, c: {"users": u.user_hash.nunique()}, single("users"),
       "Distinct users of the portal in the period per 10,000 residents.", 10000),
    on_table("portal.mobile_share", "移动端使用占比", "Mobile share of use", "ratio", "higher", "portal_usage",
       lambda u, c: {"mobile": u.count(where=u.channel.isin(MOBILE)), "n": u.count()}, ratio("mobile", "n"),
       "Share of portal use that came through the app or the mini-program."),
    on_table("portal.satisfaction_rate", "好评率", "Positive rating rate", "ratio", "higher", "portal_ratings",
       lambda r, c: {"good": r.count(where=r.rating >= 4), "n": r.count()}, ratio("good", "n"),
       "Share of 好差评 ratings that are satisfied or very satisfied."),
    on_table("portal.bad_review_rate", "差评率", "Negative rating rate", "ratio", "lower", "portal_ratings",
       lambda r, c: {"bad": r.count(where=r.rating <= 2), "n": r.count()}, ratio("bad", "n"),
       "Share of 好差评 ratings that are dissatisfied or very dissatisfied."),
]
