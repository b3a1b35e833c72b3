"""Catalogue entries (政务数据资源目录) in and out of DCAT-AP as JSON-LD, with the standard library only.

Reading expands the JSON-LD by a small built-in processor: inline and nested ``@context`` (prefixes, terms,
``@vocab``, ``@type`` coercion, ``@language`` maps), compact and expanded forms, ``@graph``, and nodes given once
and referenced by ``@id``. A remote context is not fetched: a schema.org one sets that vocabulary, any other is
read with the built-in DCAT local names, which also serve documents with no ``@context`` at all (the plain DCAT
JSON of ckanext-dcat and Project Open Data). Turtle and RDF/XML are not read.

Datasets are the nodes typed ``dcat:Dataset`` (or ``dcat:DatasetSeries``), the described objects of any
``dcat:dataset``, and — when neither exists — the untyped top-level objects. Literals are taken in Chinese, else
English, else untagged, else the first language given. Unknown properties are ignored.

Mapping (entry field ↔ DCAT-AP):

* ``code`` ↔ ``dct:identifier`` (also the non-standard ``dcat:identifier``); without one, the dataset's IRI.
* ``name`` ↔ ``dct:title`` (required) · ``summary`` ↔ ``dct:description`` · ``published`` ↔ ``dct:issued``
  (a year or year-month reads as its first day) · ``keywords`` ↔ ``dcat:keyword`` · ``themes`` ↔ ``dcat:theme``
  · ``landing_page`` ↔ ``dcat:landingPage``.
* ``provider`` ↔ ``dct:publisher``: written as a ``foaf:Organization`` with ``foaf:name``; read from ``foaf:name``,
  ``vcard:fn``, ``schema:name``, ``skos:prefLabel`` or ``rdfs:label`` of the agent, else its IRI.
* ``update_cycle`` ↔ ``dct:accrualPeriodicity``: written as EU frequency IRIs (realtime → UPDATE_CONT,
  semiannual → ANNUAL_2, yearly → ANNUAL, irregular → IRREG, the rest by name); read also from Dublin Core
  ``freq`` terms and ``R/P…`` durations (see ``entry.parse_update_cycle``). An unknown frequency is ignored.
* ``related_services`` ↔ ``dct:isReferencedBy``: a 关联事项 or system uses, so points to, the dataset.
* ``distributions`` ↔ ``dcat:distribution`` (``dct:title``, ``dcat:downloadURL``, ``dcat:accessURL``,
  ``dcat:mediaType`` as an IANA IRI, ``dct:format`` as a literal — API or DB have no EU file-type IRI).
* 开放类型 is what the public may do, so it drives ``dct:accessRights`` (EU access-right vocabulary): open →
  PUBLIC, conditional → RESTRICTED, closed → NON_PUBLIC; with no open type, 不予共享 → NON_PUBLIC and otherwise
  nothing. Read back: PUBLIC → 无条件共享 + open; RESTRICTED → 有条件共享 + conditional; NON_PUBLIC → 有条件共享 +
  closed (withheld from the public is not withheld from other departments: sharing is the rule, and 不予共享 needs
  a basis the source does not give); none or unrecognised → 有条件共享, open type unknown.
* Fields DCAT lacks go in the ``cy:`` namespace (:data:`CY`): ``cy:sharingType``, ``cy:sharingCondition``,
  ``cy:openType``, ``cy:format`` (资源格式). A dataset with ``cy:sharingType`` is a chengyun export and these
  values win over ``dct:accessRights``; otherwise ``format`` is taken from the first distribution that has one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from chengyun.catalog.ckan import json_kind
from chengyun.catalog.entry import (
    MEDIA_TYPE,
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

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
VCARD = "http://www.w3.org/2006/vcard/ns#"
SCHEMA = "https://schema.org/"
XSD = "http://www.w3.org/2001/XMLSchema#"
CY = "https://w3id.org/chengyun/catalog#"  # chengyun's extension terms; to be registered with w3id.org
CONTEXT = {"dcat": DCAT, "dct": DCT, "foaf": FOAF, "xsd": XSD, "cy": CY}
TERMS = {"code": "dct:identifier", "name": "dct:title", "provider": "dct:publisher", "summary": "dct:description",
         "format": "cy:format", "sharing_type": "cy:sharingType", "sharing_condition": "cy:sharingCondition",
         "open_type": "cy:openType", "update_cycle": "dct:accrualPeriodicity", "published": "dct:issued",
         "related_services": "dct:isReferencedBy", "keywords": "dcat:keyword", "themes": "dcat:theme",
         "landing_page": "dcat:landingPage", "distributions": "dcat:distribution"}

_NAME_PROPS = (FOAF + "name", VCARD + "fn", VCARD + "organization-name", SCHEMA + "name",
               "http://www.w3.org/2004/02/skos/core#prefLabel", "http://www.w3.org/2000/01/rdf-schema#label")
_DATASET_TYPES = {DCAT + "Dataset", DCAT + "DatasetSeries"}
_DEFAULT_TERMS = {
    **{k: DCT + k for k in ("title", "description", "identifier", "issued", "modified", "language", "publisher",
                            "creator", "format", "license", "accrualPeriodicity", "accessRights", "rights",
                            "isReferencedBy", "relation", "spatial", "temporal")},
    **{k: DCAT + k for k in ("dataset", "distribution", "keyword", "theme", "landingPage", "accessURL",
                             "downloadURL", "mediaType", "byteSize", "contactPoint")},
    "name": FOAF + "name", "mbox": FOAF + "mbox", "homepage": FOAF + "homepage", "fn": VCARD + "fn",
    "Dataset": DCAT + "Dataset", "Catalog": DCAT + "Catalog", "Distribution": DCAT + "Distribution",
}


# --- a minimal JSON-LD expansion ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Term:
    iri: str
    coerce: str | None = None  # "@id", "@vocab", "@json" or a datatype IRI
    container: str | None = None


@dataclass(frozen=True)
class _Context:
    terms: dict[str, _Term] = field(default_factory=dict)
    vocab: str | None = None
    language: str | None = None


_DEFAULT = _Context({k: _Term(v) for k, v in _DEFAULT_TERMS.items()})


def _iri(ctx: _Context, value: str, *, vocab: bool) -> str:
    """A term, compact IRI or IRI expanded in ``ctx``; ``vocab`` for properties and types, not for ``@id``."""
    if value.startswith("@"):
        return value
    if vocab and value in ctx.terms:
        return ctx.terms[value].iri
    if ":" in value:
        prefix, rest = value.split(":", 1)
        if prefix == "_" or rest.startswith("//") or prefix not in ctx.terms:
            return value
        return ctx.terms[prefix].iri + rest
    return ctx.vocab + value if vocab and ctx.vocab else value


def _term(ctx: _Context, key: str, raw: Any) -> _Term | None:
    """One term definition of a local context."""
    if isinstance(raw, str):
        return _Term(_iri(ctx, raw, vocab=True))
    if not isinstance(raw, dict):
        return None
    given = raw.get("@id")
    coerce = raw.get("@type")
    if isinstance(coerce, str) and not coerce.startswith("@"):
        coerce = _iri(ctx, coerce, vocab=True)
    containers = raw.get("@container")
    containers = containers if isinstance(containers, list) else [containers]
    container = next((c for c in containers if c in ("@language", "@list", "@set")), None)
    return _Term(_iri(ctx, given if isinstance(given, str) else key, vocab=True),
                 coerce if isinstance(coerce, str) else None, container)


def _with_context(ctx: _Context, local: Any) -> _Context:
    """The active context after a ``@context`` value (a dict, a URL, null, or a list of them)."""
    for item in local if isinstance(local, list) else [local]:
        if item is None:
            ctx = _Context()
        elif isinstance(item, str):  # remote contexts are not fetched
            if "schema.org" in item:
                ctx = replace(ctx, vocab=SCHEMA)
            else:
                ctx = replace(ctx, terms={**_DEFAULT.terms, **ctx.terms})
        elif isinstance(item, dict):
            terms = dict(ctx.terms)
            ctx = _Context(terms, item.get("@vocab", ctx.vocab), item.get("@language", ctx.language))
            for _ in range(2):  # a second pass resolves prefixes defined later in the same context
                for key, raw in item.items():
                    if key.startswith("@"):
                        continue
                    term = _term(ctx, key, raw)
                    if term is None:
                        terms.pop(key, None)
                    else:
                        terms[key] = term
    return ctx


def _scalar(ctx: _Context, term: _Term | None, value: Any) -> dict[str, Any]:
    """A JSON scalar as an expanded value or IRI reference."""
    coerce = term.coerce if term else None
    if isinstance(value, str) and coerce in ("@id", "@vocab"):
        return {"@id": _iri(ctx, value, vocab=coerce == "@vocab")}
    out: dict[str, Any] = {"@value": value}
    if coerce and not coerce.startswith("@"):
        out["@type"] = coerce
    elif isinstance(value, str) and ctx.language:
        out["@language"] = ctx.language
    return out


def _values(ctx: _Context, term: _Term | None, value: Any) -> list[Any]:
    """The expanded values of one property."""
    if term and term.container == "@language" and isinstance(value, dict):
        return [{"@value": t, "@language": lang} for lang, texts in value.items()
                for t in (texts if isinstance(texts, list) else [texts]) if t is not None]
    out: list[Any] = []
    for item in value if isinstance(value, list) else [value]:
        if item is None:
            continue
        if term and term.coerce == "@json":
            out.append({"@value": item})
        elif isinstance(item, dict) and ("@list" in item or "@set" in item):
            out.extend(_values(ctx, term, item.get("@list", item.get("@set"))))
        elif isinstance(item, dict):
            out.append(_expand_object(ctx, item))
        elif isinstance(item, list):
            out.extend(_values(ctx, term, item))
        else:
            out.append(_scalar(ctx, term, item))
    return out


def _expand_object(ctx: _Context, obj: dict[str, Any]) -> dict[str, Any]:
    """One JSON object as an expanded node or value object."""
    if "@context" in obj:
        ctx = _with_context(ctx, obj["@context"])
    if "@value" in obj:
        return {k: obj[k] for k in ("@value", "@language", "@type") if k in obj}
    node: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "@id" and isinstance(value, str):
            node["@id"] = _iri(ctx, value, vocab=False)
        elif key == "@type":
            node["@type"] = [_iri(ctx, str(t), vocab=True) for t in (value if isinstance(value, list) else [value])]
        elif key == "@graph":
            node["@graph"] = _values(ctx, None, value)
        elif not key.startswith("@"):
            prop = _iri(ctx, key, vocab=True)
            if ":" in prop:  # a key that maps to no IRI is dropped, as JSON-LD does
                node.setdefault(prop, []).extend(_values(ctx, ctx.terms.get(key), value))
    return node


# --- reading ------------------------------------------------------------------------------------------------

def _content(node: dict[str, Any]) -> bool:
    """Whether a node says something beyond its IRI (a bare reference or an @graph wrapper does not)."""
    return any(k not in ("@id", "@graph") for k in node)


def _walk(item: Any) -> Iterator[dict[str, Any]]:
    """Every node object inside an expanded document, in document order."""
    for x in item if isinstance(item, list) else [item]:
        if isinstance(x, dict) and "@value" not in x:
            if _content(x):
                yield x
            for key, vals in x.items():
                if key not in ("@id", "@type"):
                    yield from _walk(vals)


class _Graph:
    """Nodes of an expanded document indexed by IRI, with the readers the mapping needs."""

    def __init__(self, expanded: list[Any]) -> None:
        self.nodes = list(_walk(expanded))
        self.index: dict[str, dict[str, Any]] = {}
        for node in self.nodes:
            if "@id" in node:
                merged = self.index.setdefault(node["@id"], {"@id": node["@id"]})
                for key, vals in node.items():
                    if key not in ("@id", "@graph"):
                        merged.setdefault(key, []).extend(vals)

    def resolve(self, value: Any) -> Any:
        """A node described elsewhere in the document in place of its bare reference."""
        if isinstance(value, dict) and "@id" in value and not _content(value):
            return self.index.get(value["@id"], value)
        return value

    def objects(self, node: dict[str, Any], prop: str) -> list[dict[str, Any]]:
        """Values of ``prop`` that are nodes with a description."""
        found = (self.resolve(v) for v in node.get(prop, []))
        return [v for v in found if isinstance(v, dict) and "@value" not in v and _content(v)]

    def texts(self, node: dict[str, Any], *props: str) -> list[str]:
        """Literals of the first property that has any, in the preferred language."""
        for prop in props:
            found = _preferred([v for v in node.get(prop, []) if "@value" in v])
            if found:
                return found
        return []

    def text(self, node: dict[str, Any], *props: str) -> str | None:
        """The first literal of the first property that has one, else the first reference."""
        found = self.texts(node, *props) or [r for p in props for r in self.refs(node, p)]
        return found[0] if found else None

    def refs(self, node: dict[str, Any], prop: str, *, names_first: bool = False) -> list[str]:
        """Values of ``prop`` as text: literals as they are, nodes by IRI, else by name (``names_first``: the
        other way round, for agents)."""
        out: list[str] = []
        for value in (self.resolve(v) for v in node.get(prop, [])):
            if "@value" in value:
                out.append(str(value["@value"]))
                continue
            iri = "" if value.get("@id", "_:").startswith("_:") else value["@id"]
            name = next(iter(self.texts(value, *_NAME_PROPS)), "")
            out.append((name or iri) if names_first else (iri or name))
        return [v for v in out if v.strip()]


def _rank(lang: str) -> int:
    return 0 if lang.startswith("zh") else 1 if lang.startswith("en") else 2 if not lang else 3


def _preferred(values: list[dict[str, Any]]) -> list[str]:
    """The literals in the preferred language: zh, then en, then untagged, then the first language given."""
    tagged = [(str(v.get("@language") or "").lower(), str(v["@value"])) for v in values]
    if not tagged:
        return []
    best = min(_rank(lang) for lang, _ in tagged)
    first = next(lang for lang, _ in tagged if _rank(lang) == best)
    return [t for lang, t in tagged if (_rank(lang) == best if best < 3 else lang == first)]


def _distribution(g: _Graph, node: dict[str, Any]) -> dict[str, Any]:
    """Distribution fields of one dcat:Distribution node."""
    first = {p: next(iter(g.refs(node, p)), None) for p in (DCAT + "downloadURL", DCAT + "accessURL",
                                                              DCAT + "mediaType", DCT + "format")}
    fmt = first[DCT + "format"]
    return {"title": g.text(node, DCT + "title"), "download_url": first[DCAT + "downloadURL"],
            "access_url": first[DCAT + "accessURL"], "media_type": media_type(first[DCAT + "mediaType"]),
            "format": short_format(fmt) if fmt and "/file-type/" in fmt else fmt}


def _fields(g: _Graph, node: dict[str, Any]) -> dict[str, Any]:
    """Entry fields of one dataset node."""
    iri = node.get("@id", "")
    dists = [_distribution(g, d) for d in g.objects(node, DCAT + "distribution")]
    data: dict[str, Any] = {
        "code": g.text(node, DCT + "identifier", DCAT + "identifier") or (None if iri.startswith("_:") else iri),
        "name": g.text(node, DCT + "title"),
        "provider": next(iter(g.refs(node, DCT + "publisher", names_first=True)), None),
        "summary": g.text(node, DCT + "description"), "published": issued_day(g.text(node, DCT + "issued")),
        "keywords": g.texts(node, DCAT + "keyword"), "themes": g.refs(node, DCAT + "theme"),
        "related_services": g.refs(node, DCT + "isReferencedBy"),
        "landing_page": next(iter(g.refs(node, DCAT + "landingPage")), None),
        "update_cycle": first_cycle(g.refs(node, DCT + "accrualPeriodicity")), "distributions": dists,
    }
    if CY + "sharingType" in node:  # a chengyun export: the extension is authoritative
        data.update({k: g.text(node, CY + t) for k, t in (("sharing_type", "sharingType"), ("format", "format"),
                                                            ("sharing_condition", "sharingCondition"),
                                                            ("open_type", "openType"))})
    else:
        data["sharing_type"], data["open_type"] = access_types(g.text(node, DCT + "accessRights"))
        data["format"] = next((short_format(d["format"] or d["media_type"]) for d in dists
                               if d["format"] or d["media_type"]), None)
    return data


def _datasets(expanded: list[Any], g: _Graph) -> list[dict[str, Any]]:
    """The dataset nodes of a document, in document order, each once."""
    chosen: dict[Any, dict[str, Any]] = {}

    def add(node: dict[str, Any]) -> None:
        chosen.setdefault(node.get("@id") or id(node), g.resolve({"@id": node["@id"]}) if "@id" in node else node)

    for node in g.nodes:
        if _DATASET_TYPES & set(node.get("@type", [])):
            add(node)
        for member in g.objects(node, DCAT + "dataset"):
            add(member)
    if not chosen:
        top = [n for n in expanded if isinstance(n, dict)]
        top += [m for n in top for m in n.get("@graph", []) if isinstance(m, dict)]
        for node in top:
            if "@type" not in node and _content(node):
                add(node)
    return list(chosen.values())


def from_dcat(doc: dict[str, Any] | list[Any]) -> list[CatalogEntry]:
    """Catalogue entries from DCAT-AP JSON-LD: a Dataset, a Catalog with dcat:dataset, an @graph, or a list."""
    if not isinstance(doc, dict | list):
        raise InvalidInput("a DCAT document must be a JSON object or array",
                           fix="pass the parsed JSON-LD (json.load), not text or a file name")
    items = doc if isinstance(doc, list) else [doc]
    for i, item in enumerate(items):
        if json_kind(item) == "ckan":
            raise InvalidInput(f"item {i} is a CKAN package, not DCAT",
                               fix="read it with chengyun.catalog.ckan.from_ckan")
    own_context = any(isinstance(i, dict) and "@context" in i for i in items)
    expanded = _values(_Context() if own_context else _DEFAULT, None, doc)
    g = _Graph(expanded)
    datasets = _datasets(expanded, g)
    if not datasets:
        types = sorted({t for n in g.nodes for t in n.get("@type", [])})
        raise InvalidInput("no DCAT dataset found in the document",
                           fix="give a dcat:Dataset, a dcat:Catalog with dcat:dataset, or an @graph holding them; "
                               "schema.org and Croissant documents are not DCAT",
                           details=[f"types found: {', '.join(types) or 'none'}"])
    records = []
    for i, node in enumerate(datasets):
        name = node.get("@id") or g.text(node, DCT + "identifier")
        records.append((f"dataset {i}" + (f" <{name}>" if name else ""), _fields(g, node)))
    return validate_records(records, source="DCAT", terms=TERMS)


# --- writing ------------------------------------------------------------------------------------------------

def _ref(value: str) -> Any:
    """An IRI-looking value as a reference, anything else as a literal."""
    return {"@id": value} if "://" in value or value.startswith("urn:") else value


def _dataset_iri(entry: CatalogEntry, base: str) -> str:
    if re.match(r"^https?://\S+$", entry.code):
        return entry.code
    return f"{base}/{quote(entry.code, safe='')}"


def _distribution_node(d: Distribution) -> dict[str, Any]:
    node: dict[str, Any] = {"@type": "dcat:Distribution"}
    for key, value in (("dct:title", d.title), ("dcat:downloadURL", d.download_url and {"@id": d.download_url}),
                       ("dcat:accessURL", d.access_url and {"@id": d.access_url}),
                       ("dcat:mediaType", d.media_type and {"@id": MEDIA_TYPE + d.media_type}),
                       ("dct:format", d.format)):
        if value:
            node[key] = value
    return node


def _dataset_node(e: CatalogEntry, base: str) -> dict[str, Any]:
    """One entry as a compact dcat:Dataset node."""
    rights = access_right(e)
    optional: dict[str, Any] = {
        "dct:description": e.summary,
        "dct:publisher": e.provider and {"@type": "foaf:Organization", "foaf:name": e.provider},
        "dct:issued": e.published and {"@value": e.published.isoformat(), "@type": "xsd:date"},
        "dct:accrualPeriodicity": e.update_cycle and {"@id": frequency_iri(e.update_cycle)},
        "dct:accessRights": rights and {"@id": rights},
        "dcat:keyword": e.keywords, "dcat:theme": [_ref(t) for t in e.themes],
        "dct:isReferencedBy": [_ref(s) for s in e.related_services],
        "dcat:landingPage": e.landing_page and {"@id": e.landing_page},
        "dcat:distribution": [_distribution_node(d) for d in e.distributions],
        "cy:sharingType": e.sharing_type, "cy:sharingCondition": e.sharing_condition,
        "cy:openType": e.open_type, "cy:format": e.format,
    }
    node = {"@id": _dataset_iri(e, base), "@type": "dcat:Dataset", "dct:identifier": e.code, "dct:title": e.name}
    return node | {k: v for k, v in optional.items() if v}


def to_dcat(entries: list[CatalogEntry], *, catalog_title: str, base_uri: str) -> dict[str, Any]:
    """A dcat:Catalog JSON-LD document (compact, with its @context) holding every entry as a dcat:Dataset; a
    dataset's IRI is its code when that is an http(s) IRI, else ``base_uri`` + ``/`` + the escaped code."""
    if not re.match(r"^https?://\S+$", base_uri or ""):
        raise InvalidInput(f"base_uri {base_uri!r} is not an http(s) IRI",
                           fix="give the address datasets hang under, e.g. https://data.example.gov.cn/dataset/")
    base = base_uri.rstrip("/")
    nodes = [_dataset_node(e, base) for e in entries]
    seen: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node["@id"] in seen:  # one IRI would merge the two datasets on reading
            raise InvalidInput(f"entries {seen[node['@id']]} and {i} get the same dataset IRI {node['@id']}",
                               fix="give every catalogue entry its own code (资源代码); DCAT identifies datasets "
                                   "by it")
        seen[node["@id"]] = i
    return {"@context": dict(CONTEXT), "@id": base_uri, "@type": "dcat:Catalog", "dct:title": catalog_title,
            "dcat:dataset": nodes}
