"""Catalogue entries (政务数据资源目录) in and out of CKAN package JSON.

Reading takes a package dict, an action API answer (``package_show``: ``{"result": package}``;
``package_search``: ``{"result": {"results": [...]}}``) or a list of packages. It understands core CKAN fields,
the ``extras`` list (values may be JSON-encoded lists), and the top-level fields the ckanext-dcat / scheming
schemas add (``identifier``, ``issued``, ``frequency``, ``publisher``, ``theme`` …). Plain DCAT JSON (``keyword``,
``distribution``) is refused with a pointer to :func:`chengyun.catalog.dcat.from_dcat`.

Mapping (entry field ↔ CKAN; extras use the key names ckanext-dcat reads, so a CKAN with it publishes DCAT):

* ``code`` ↔ extra ``identifier``; read also from a top-level ``identifier``, the ``guid`` extra, then the
  package ``id``, then its ``name``.
* ``name`` ↔ ``title`` · ``summary`` ↔ ``notes`` · ``landing_page`` ↔ ``url`` (the source page); the
  ``*_translated`` dicts of multilingual CKAN are read in zh, then en, then the plain field.
* ``provider`` ↔ extra ``publisher_name``; read also from ``publisher`` (scheming), ``dcat_publisher_name`` and
  the owning organisation's title. Author and maintainer are contacts, not the provider, and are not read.
* ``published`` ↔ extra ``issued``; read also from ``dcat_issued``, then ``metadata_created``.
* ``update_cycle`` ↔ extra ``frequency`` (an EU frequency IRI, as in DCAT) · ``themes`` ↔ extra ``theme`` ·
  ``related_services`` ↔ extra ``is_referenced_by`` (both JSON lists).
* ``keywords`` ↔ ``tags``. CKAN refuses tags shorter than two characters or with characters other than letters,
  digits, space, ``-``, ``_`` and ``.``; such keywords are left out of ``tags`` and the whole list goes to the
  extra ``cy_keywords``, which wins on reading.
* ``distributions`` ↔ ``resources``: ``name``, ``url`` (the access URL, else the download URL), ``access_url``,
  ``download_url``, ``mimetype``, ``format``. A resource with only ``url`` reads as an access URL.
* Sharing and opening: extras ``cy_sharing_type``, ``cy_sharing_condition``, ``cy_open_type`` and ``cy_format``
  (资源格式), plus ``access_rights`` as in DCAT. A package with ``cy_sharing_type`` is a chengyun export and its
  ``cy_`` extras win; otherwise ``access_rights`` is read as in DCAT and the format comes from the resources.
* ``name`` of the package (CKAN's URL slug) is made from the code: lower-cased when that is already a valid
  slug, else slugged with a short hash of the code added so that different codes keep different names.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from chengyun.catalog.entry import (
    CatalogEntry,
    Distribution,
    access_right,
    access_types,
    first_cycle,
    frequency_iri,
    issued_day,
    media_type,
    short_format,
    validate_records,
)
from chengyun.core.errors import InvalidInput

TERMS = {"code": "identifier", "name": "title", "provider": "publisher_name", "summary": "notes",
         "format": "cy_format", "sharing_type": "cy_sharing_type", "sharing_condition": "cy_sharing_condition",
         "open_type": "cy_open_type", "update_cycle": "frequency", "published": "issued",
         "related_services": "is_referenced_by", "keywords": "tags", "themes": "theme", "landing_page": "url",
         "distributions": "resources"}
_TAG = re.compile(r"[\w .-]{2,100}")


_CKAN_KEYS = {"resources", "notes", "extras", "tags", "owner_org", "num_resources", "metadata_created", "result"}
_DCAT_JSON_KEYS = {"distribution", "keyword", "dataset", "landingPage", "accrualPeriodicity"}


def json_kind(doc: Any) -> str:
    """Which exchange format parsed JSON looks like: ``dcat`` (JSON-LD or plain DCAT JSON), ``ckan``, or
    ``unknown``; a list is judged by its first item."""
    item = doc[0] if isinstance(doc, list) and doc else doc
    if not isinstance(item, dict):
        return "unknown"
    if {"@context", "@graph", "@type"} & item.keys():
        return "dcat"
    if _CKAN_KEYS & item.keys() or item.get("success") is False:
        return "ckan"
    return "dcat" if _DCAT_JSON_KEYS & item.keys() else "unknown"


def _packages(doc: Any) -> list[dict[str, Any]]:
    """The package dicts of a package, an action API answer, or a list."""
    if isinstance(doc, dict) and ("result" in doc or doc.get("success") is False):
        if doc.get("success") is False:
            raise InvalidInput(f"the CKAN API answered with an error: {doc.get('error')}",
                               fix="fix the request to CKAN (the error says what it refused) and fetch again")
        result = doc.get("result")
        doc = result.get("results", []) if isinstance(result, dict) and "results" in result else result
    items = doc if isinstance(doc, list) else [doc]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"package {i} is a JSON {type(item).__name__}, not an object",
                               fix="give CKAN package dicts, a package_show or package_search answer, or a list")
        if json_kind(item) == "dcat":
            raise InvalidInput(f"package {i} is DCAT JSON, not a CKAN package",
                               fix="read it with chengyun.catalog.dcat.from_dcat")
    return items


def _extras(package: dict[str, Any]) -> dict[str, Any]:
    """Extras as a dict, from CKAN's list of key/value pairs or an already flat dict."""
    raw = package.get("extras") or []
    if isinstance(raw, dict):
        return raw
    return {e["key"]: e.get("value") for e in raw if isinstance(e, dict) and "key" in e}


def _list(value: Any) -> list[str]:
    """A list of texts from a list, a JSON-encoded list, or a single value."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return [value]
    if value is None or value == "":
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value]) if v not in (None, "")]


def _first(*values: Any) -> Any:
    """The first value that is not empty."""
    return next((v for v in values if v not in (None, "", [], {})), None)


def _translated(record: dict[str, Any], key: str) -> Any:
    """A field in Chinese, else English (``<key>_translated``), else the plain field, else any translation."""
    translations = record.get(f"{key}_translated")
    if not isinstance(translations, dict):
        return record.get(key)
    for prefix in ("zh", "en"):
        found = _first(*(v for lang, v in translations.items() if str(lang).lower().startswith(prefix)))
        if found is not None:
            return found
    return _first(record.get(key), *translations.values())


def _publisher(package: dict[str, Any], extras: dict[str, Any]) -> Any:
    """The provider's name from scheming ``publisher``, the publisher extras, or the owning organisation."""
    given = package.get("publisher")
    if isinstance(given, list):
        given = given[0] if given else None
    if isinstance(given, dict):
        given = given.get("name")
    org = package.get("organization")
    org_name = _first(org.get("title"), org.get("name")) if isinstance(org, dict) else None
    return _first(given, extras.get("publisher_name"), extras.get("dcat_publisher_name"), org_name)


def _keywords(package: dict[str, Any], extras: dict[str, Any]) -> list[str]:
    """Keywords from ``cy_keywords``, translated tags, tags, or a ``tag_string``."""
    if "cy_keywords" in extras:
        return _list(extras["cy_keywords"])
    translated = _translated({"tags_translated": package.get("tags_translated")}, "tags")
    if translated:
        return _list(translated)
    tags = package.get("tags") or []
    names = [t.get("name") if isinstance(t, dict) else t for t in tags]
    return [str(n) for n in names if n] or _list((package.get("tag_string") or "").split(","))


def _resource(r: dict[str, Any]) -> dict[str, Any]:
    """Distribution fields of one CKAN resource."""
    url, download = _first(r.get("url")), _first(r.get("download_url"))
    fmt = _first(r.get("format"))
    return {"title": _translated(r, "name"), "download_url": download,
            "access_url": _first(r.get("access_url")) or (url if url != download else None),
            "media_type": media_type(_first(r.get("mimetype"))),
            "format": short_format(fmt) if fmt and "/file-type/" in fmt else fmt}


def _fields(p: dict[str, Any]) -> dict[str, Any]:
    """Entry fields of one CKAN package."""
    x = _extras(p)
    dists = [_resource(r) for r in p.get("resources") or [] if isinstance(r, dict)]
    data: dict[str, Any] = {
        "code": _first(p.get("identifier"), x.get("identifier"), x.get("guid"), p.get("id"), p.get("name")),
        "name": _translated(p, "title"), "summary": _translated(p, "notes"), "provider": _publisher(p, x),
        "published": issued_day(_first(p.get("issued"), x.get("issued"), x.get("dcat_issued"),
                                       p.get("metadata_created"))),
        "keywords": _keywords(p, x), "themes": _list(_first(p.get("theme"), x.get("theme"))),
        "related_services": _list(_first(p.get("is_referenced_by"), x.get("is_referenced_by"))),
        "landing_page": p.get("url"), "distributions": dists,
        "update_cycle": first_cycle(_list(p.get("frequency")) + _list(x.get("frequency"))),
    }
    if "cy_sharing_type" in x:  # a chengyun export: its own fields win
        data.update({"sharing_type": x["cy_sharing_type"], "sharing_condition": x.get("cy_sharing_condition"),
                     "open_type": x.get("cy_open_type"), "format": x.get("cy_format")})
    else:
        data["sharing_type"], data["open_type"] = access_types(_first(p.get("access_rights"),
                                                                      x.get("access_rights")))
        data["format"] = next((short_format(d["format"] or d["media_type"]) for d in dists
                               if d["format"] or d["media_type"]), None)
    return data


def from_ckan(doc: dict[str, Any] | list[Any]) -> list[CatalogEntry]:
    """Catalogue entries from a CKAN package, a package_show or package_search answer, or a list of packages."""
    records = []
    for i, package in enumerate(_packages(doc)):
        name = _first(package.get("name"), package.get("id"))
        records.append((f"package {i}" + (f" '{name}'" if name else ""), _fields(package)))
    return validate_records(records, source="CKAN", terms=TERMS)


def ckan_name(code: str) -> str:
    """The CKAN package name (URL slug, 2–100 of a-z 0-9 - _) for a resource code."""
    lowered = code.lower()
    if re.fullmatch(r"[a-z0-9_-]{2,100}", lowered):
        return lowered
    slug = re.sub(r"[^a-z0-9_-]+", "-", lowered).strip("-")[:90].strip("-")
    digest = hashlib.sha1(code.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"cy-{digest}"


def _json_list(values: list[str]) -> str | None:
    """A non-empty list as the JSON text CKAN extras hold."""
    return json.dumps(values, ensure_ascii=False) if values else None


def _resource_out(d: Distribution) -> dict[str, Any]:
    out = {"name": d.title or "", "url": d.access_url or d.download_url or "", "format": d.format or ""}
    for key, value in (("access_url", d.access_url), ("download_url", d.download_url),
                       ("mimetype", d.media_type)):
        if value:
            out[key] = value
    return out


def to_ckan(entry: CatalogEntry) -> dict[str, Any]:
    """A CKAN package dict (for package_create) carrying every field of the entry; see the module docstring."""
    tags = [k for k in entry.keywords if _TAG.fullmatch(k)]
    extras = {
        "identifier": entry.code, "publisher_name": entry.provider,
        "issued": entry.published.isoformat() if entry.published else None,
        "frequency": frequency_iri(entry.update_cycle) if entry.update_cycle else None,
        "access_rights": access_right(entry), "theme": _json_list(entry.themes),
        "is_referenced_by": _json_list(entry.related_services), "cy_sharing_type": entry.sharing_type,
        "cy_sharing_condition": entry.sharing_condition, "cy_open_type": entry.open_type, "cy_format": entry.format,
        "cy_keywords": _json_list(entry.keywords) if len(tags) < len(entry.keywords) else None,
    }
    package: dict[str, Any] = {"name": ckan_name(entry.code), "title": entry.name}
    if entry.summary:
        package["notes"] = entry.summary
    if entry.landing_page:
        package["url"] = entry.landing_page
    package["tags"] = [{"name": t} for t in tags]
    package["resources"] = [_resource_out(d) for d in entry.distributions]
    package["extras"] = [{"key": k, "value": v} for k, v in extras.items() if v]
    return package
