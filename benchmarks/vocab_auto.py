"""How English are exemplars? The measurement behind ``vocab=auto`` (docs/trimmed-vocabulary.md).

For each Zipf threshold, the share of an exemplar set's alphabetic words that wordfreq knows
as English at least that well (``zest_llama_cpp.trim.english_share``), over:

- the shipped exemplar sets (corpora/scifact, corpora/nfcorpus);
- every BEIR SciFact and NFCorpus document, in random sets of 5 (as ``zest run --k 5`` picks)
  and one by one (``--k 1``);
- German, Spanish and French paragraphs written for this (below), one by one and as a set.

    python benchmarks/vocab_auto.py --zipf 1,2,3,4

Thresholds above the shipped English list's floor (about Zipf 2.1) read the shipped list, as
``vocab=auto`` does; lower ones need wordfreq itself (``pip install wordfreq``).
"""

import argparse
import datetime
import json
import os
import platform
import random
import sys
from pathlib import Path

from zest_core.corpus.exemplars import read_exemplars
from zest_llama_cpp import english
from zest_llama_cpp.trim import ENGLISH_SHARE, ENGLISH_ZIPF, english_share, exemplar_texts

ROOT = Path(__file__).resolve().parent.parent
BEIR = ROOT.parent / "shared" / "data" / "beir"

# Abstracts of the kind SciFact and NFCorpus hold, written in each language for this check.
OTHER = {
    "de": [
        "Die mitochondriale Dysfunktion spielt eine zentrale Rolle bei der Entstehung"
        " neurodegenerativer Erkrankungen. In dieser Studie untersuchten wir an 120 Patienten,"
        " ob die Aktivität der Atmungskette im Blut mit dem Fortschreiten der Krankheit"
        " zusammenhängt. Die Ergebnisse zeigen eine deutliche Abnahme bei schweren Verläufen.",
        "Eine ballaststoffreiche Ernährung senkt das Risiko für Darmkrebs. Wir werteten die"
        " Daten von mehr als vierzigtausend Erwachsenen aus, die über zehn Jahre beobachtet"
        " wurden, und fanden, dass Vollkornprodukte und Hülsenfrüchte den stärksten"
        " schützenden Zusammenhang aufwiesen.",
        "Impfungen gegen Grippe verringern bei älteren Menschen die Zahl der"
        " Krankenhausaufenthalte. Unsere Auswertung zeigt jedoch, dass die Wirksamkeit von"
        " Jahr zu Jahr schwankt und von der Übereinstimmung zwischen Impfstoff und"
        " zirkulierenden Viren abhängt.",
        "Der Zusammenhang zwischen Schlafdauer und Blutzucker wurde bei Jugendlichen kaum"
        " untersucht. Wir maßen bei dreihundert Schülern eine Woche lang den Schlaf und"
        " bestimmten anschließend die Insulinempfindlichkeit; kurzer Schlaf ging mit höheren"
        " Werten einher.",
        "Antibiotikaresistente Keime breiten sich in Krankenhäusern schnell aus. Diese Arbeit"
        " beschreibt, wie eine strengere Händehygiene und die frühe Isolierung betroffener"
        " Patienten die Zahl neuer Infektionen innerhalb eines Jahres halbierten.",
    ],
    "es": [
        "La disfunción mitocondrial desempeña un papel central en el desarrollo de las"
        " enfermedades neurodegenerativas. En este estudio analizamos a ciento veinte"
        " pacientes para saber si la actividad de la cadena respiratoria en la sangre se"
        " relaciona con la progresión de la enfermedad.",
        "Una dieta rica en fibra reduce el riesgo de cáncer colorrectal. Evaluamos los datos"
        " de más de cuarenta mil adultos seguidos durante diez años y encontramos que los"
        " cereales integrales y las legumbres mostraban la asociación protectora más fuerte.",
        "La vacunación contra la gripe disminuye las hospitalizaciones en las personas"
        " mayores. Sin embargo, nuestro análisis muestra que la eficacia varía de un año a"
        " otro y depende de la coincidencia entre la vacuna y los virus circulantes.",
        "La relación entre la duración del sueño y la glucosa en sangre apenas se ha"
        " estudiado en adolescentes. Medimos el sueño de trescientos estudiantes durante una"
        " semana y después determinamos la sensibilidad a la insulina.",
        "Las bacterias resistentes a los antibióticos se propagan con rapidez en los"
        " hospitales. Este trabajo describe cómo una higiene de manos más estricta y el"
        " aislamiento temprano de los pacientes afectados redujeron a la mitad las nuevas"
        " infecciones.",
    ],
    "fr": [
        "Le dysfonctionnement mitochondrial joue un rôle central dans l'apparition des"
        " maladies neurodégénératives. Dans cette étude, nous avons examiné cent vingt"
        " patients afin de savoir si l'activité de la chaîne respiratoire dans le sang est"
        " liée à la progression de la maladie.",
        "Une alimentation riche en fibres diminue le risque de cancer colorectal. Nous avons"
        " analysé les données de plus de quarante mille adultes suivis pendant dix ans : les"
        " céréales complètes et les légumineuses présentaient l'association protectrice la"
        " plus forte.",
        "La vaccination contre la grippe réduit les hospitalisations chez les personnes âgées."
        " Notre analyse montre toutefois que son efficacité varie d'une année à l'autre et"
        " dépend de la correspondance entre le vaccin et les virus en circulation.",
        "Le lien entre la durée du sommeil et la glycémie a été peu étudié chez les"
        " adolescents. Nous avons mesuré le sommeil de trois cents élèves pendant une semaine,"
        " puis déterminé leur sensibilité à l'insuline.",
        "Les bactéries résistantes aux antibiotiques se répandent rapidement à l'hôpital. Ce"
        " travail décrit comment une hygiène des mains plus stricte et l'isolement précoce des"
        " patients touchés ont réduit de moitié les nouvelles infections.",
    ],
}


def beir_documents(name: str) -> list[dict]:
    with (BEIR / name / "corpus.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def share(exemplars: list[dict], zipf: float) -> float:
    lookup = None
    if zipf <= english.floor():  # below the shipped list: wordfreq's own frequencies
        import wordfreq

        lookup = lambda word: wordfreq.zipf_frequency(word, "en")  # noqa: E731
    # each part once, not twice
    value = english_share(exemplar_texts(exemplars)[::2], zipf, lookup)
    return 0.0 if value is None else value


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"min {ordered[0]:.3f}, 1st percentile {ordered[len(ordered) // 100]:.3f},"
        f" median {ordered[len(ordered) // 2]:.3f}, max {ordered[-1]:.3f} (n={len(ordered)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zipf", default="1,2,3,4", help="thresholds, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        platform.processor(),
    )
    print("python " + " ".join(sys.argv))
    print(
        f"{datetime.date.today()}, {os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}"
    )
    print(f"current rule: trimmed when the share at Zipf >= {ENGLISH_ZIPF} is >= {ENGLISH_SHARE}")
    shipped = {p: read_exemplars([str(ROOT / "corpora" / p)]) for p in ("scifact", "nfcorpus")}
    beir = {name: beir_documents(name) for name in ("scifact", "nfcorpus")}
    rng = random.Random(args.seed)
    for zipf in (float(z) for z in args.zipf.split(",")):
        print(f"\nZipf >= {zipf}:")
        for name, exemplars in shipped.items():
            print(f"  shipped {name} exemplars: {share(exemplars, zipf):.3f}")
        for name, docs in beir.items():
            docs = [d for d in docs if d.get("text", "").strip()]
            shuffled = rng.sample(docs, len(docs))
            sets = [shuffled[i : i + 5] for i in range(0, len(shuffled) - 4, 5)]
            print(f"  BEIR {name}, sets of 5: {summary([share(s, zipf) for s in sets])}")
            print(f"  BEIR {name}, one by one: {summary([share([d], zipf) for d in docs])}")
        for lang, paragraphs in OTHER.items():
            docs = [{"text": p} for p in paragraphs]
            one = [share([d], zipf) for d in docs]
            print(
                f"  {lang}: the 5 as a set {share(docs, zipf):.3f}, one by one max {max(one):.3f}"
            )


if __name__ == "__main__":
    main()
