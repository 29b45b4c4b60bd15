"""Writes labelled.jsonl: Telegram-style channel posts with planted personal data, each with
the spans a scrubber must find (kind, start, end). Two parts: hand-written posts (handwritten.txt,
marks such as [[PHONE:8 912 ...]] give the spans) and posts assembled from sentence
templates. Both were written before the detector was run on them, from the
kinds of posts in data/benchmarks/ (city news digests, ads, lost-and-found, announcements),
and not tuned to it afterwards: rerun only to change the set on purpose.

    .venv/bin/python tests/datasets/pii/build_labelled.py

Posts are assembled from hand-written sentence templates. A slot such as {PERSON_gen} is
filled with a planted value and labelled; everything else in a template is a hard negative
on purpose (dates, times, prices, order and tracking numbers, house numbers, streets named
after people, companies, places, capitalised words at sentence start, numbers that fail a
checksum). Kinds: EMAIL, PHONE, HANDLE, PROFILE, CARD, IBAN, INN, SNILS, PASSPORT, PERSON.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from support.pii_values import card, iban, inn10, inn12, phone_intl, phone_ru, snils

OUT = Path(__file__).with_name("labelled.jsonl")
SEED = 20261201
POSTS_RU = 200
POSTS_EN = 50

# Russian full names as written: nominative, genitive, dative, instrumental.
RU_NAMES = [
    ("Иван Петров", "Ивана Петрова", "Ивану Петрову", "Иваном Петровым"),
    ("Сергей Ковалёв", "Сергея Ковалёва", "Сергею Ковалёву", "Сергеем Ковалёвым"),
    ("Алексей Смирнов", "Алексея Смирнова", "Алексею Смирнову", "Алексеем Смирновым"),
    ("Дмитрий Орлов", "Дмитрия Орлова", "Дмитрию Орлову", "Дмитрием Орловым"),
    ("Андрей Волков", "Андрея Волкова", "Андрею Волкову", "Андреем Волковым"),
    ("Михаил Зайцев", "Михаила Зайцева", "Михаилу Зайцеву", "Михаилом Зайцевым"),
    ("Николай Белов", "Николая Белова", "Николаю Белову", "Николаем Беловым"),
    ("Павел Кузнецов", "Павла Кузнецова", "Павлу Кузнецову", "Павлом Кузнецовым"),
    ("Олег Морозов", "Олега Морозова", "Олегу Морозову", "Олегом Морозовым"),
    ("Виктор Степанов", "Виктора Степанова", "Виктору Степанову", "Виктором Степановым"),
    ("Юрий Гаврилов", "Юрия Гаврилова", "Юрию Гаврилову", "Юрием Гавриловым"),
    ("Артём Никитин", "Артёма Никитина", "Артёму Никитину", "Артёмом Никитиным"),
    ("Роман Фёдоров", "Романа Фёдорова", "Роману Фёдорову", "Романом Фёдоровым"),
    ("Геннадий Лысенко", "Геннадия Лысенко", "Геннадию Лысенко", "Геннадием Лысенко"),
    ("Константин Ершов", "Константина Ершова", "Константину Ершову", "Константином Ершовым"),
    ("Владимир Соколов", "Владимира Соколова", "Владимиру Соколову", "Владимиром Соколовым"),
    ("Евгений Тарасов", "Евгения Тарасова", "Евгению Тарасову", "Евгением Тарасовым"),
    ("Илья Борисов", "Ильи Борисова", "Илье Борисову", "Ильёй Борисовым"),
    ("Мария Иванова", "Марии Ивановой", "Марии Ивановой", "Марией Ивановой"),
    ("Анна Сергеева", "Анны Сергеевой", "Анне Сергеевой", "Анной Сергеевой"),
    ("Елена Кравченко", "Елены Кравченко", "Елене Кравченко", "Еленой Кравченко"),
    ("Ольга Миронова", "Ольги Мироновой", "Ольге Мироновой", "Ольгой Мироновой"),
    ("Татьяна Власова", "Татьяны Власовой", "Татьяне Власовой", "Татьяной Власовой"),
    ("Наталья Жукова", "Натальи Жуковой", "Наталье Жуковой", "Натальей Жуковой"),
    ("Ирина Полякова", "Ирины Поляковой", "Ирине Поляковой", "Ириной Поляковой"),
    ("Светлана Комарова", "Светланы Комаровой", "Светлане Комаровой", "Светланой Комаровой"),
    ("Екатерина Лебедева", "Екатерины Лебедевой", "Екатерине Лебедевой", "Екатериной Лебедевой"),
    ("Галина Денисова", "Галины Денисовой", "Галине Денисовой", "Галиной Денисовой"),
    ("Юлия Белоусова", "Юлии Белоусовой", "Юлии Белоусовой", "Юлией Белоусовой"),
    ("Ксения Андреева", "Ксении Андреевой", "Ксении Андреевой", "Ксенией Андреевой"),
    ("Пётр Ильич Сомов", "Петра Ильича Сомова", "Петру Ильичу Сомову", "Петром Ильичом Сомовым"),
    (
        "Людмила Викторовна Гусева",
        "Людмилы Викторовны Гусевой",
        "Людмиле Викторовне Гусевой",
        "Людмилой Викторовной Гусевой",
    ),
    (
        "Анатолий Петрович Рыбаков",
        "Анатолия Петровича Рыбакова",
        "Анатолию Петровичу Рыбакову",
        "Анатолием Петровичем Рыбаковым",
    ),
    ("А. В. Седов", "А. В. Седова", "А. В. Седову", "А. В. Седовым"),
    ("Н. П. Крылова", "Н. П. Крыловой", "Н. П. Крыловой", "Н. П. Крыловой"),
]
EN_NAMES = [
    "John Smith",
    "Sarah Connor",
    "Michael Brown",
    "Emily Johnson",
    "David Miller",
    "Laura Wilson",
    "James Taylor",
    "Olivia Davies",
    "Daniel Harris",
    "Sophie Turner",
    "Robert Clarke",
    "Anna Kowalski",
    "Thomas Wright",
    "Grace Walker",
    "Peter Hughes",
    "Helen Morgan",
    "Mark Evans",
    "Rachel Green",
    "Kevin O'Brien",
    "Natalie Price",
]
HANDLES = [
    "ivan_petrov",
    "masha.ivanova",
    "serg_koval",
    "anna_s",
    "dmitry_orlov88",
    "kseniya_a",
    "oleg_moroz",
    "l_guseva",
    "johnsmith",
    "sarah_c",
    "pavel_kuz",
    "helen_m",
    "vlad_sokolov",
    "tanya_vlas",
    "artem_nikitin",
]
EMAIL_USERS = [
    "ivan.petrov",
    "m.ivanova",
    "s_kovalev",
    "anna-sergeeva",
    "dorlov",
    "ksenia.andreeva",
    "oleg.morozov77",
    "j.smith",
    "sarah.connor",
    "info.zakaz",
    "Elena.Kravchenko",
    "PAVEL.K",
]
EMAIL_HOSTS = [
    "mail.ru",
    "yandex.ru",
    "gmail.com",
    "inbox.ru",
    "bk.ru",
    "rambler.ru",
    "outlook.com",
    "zarechinsk-adm.ru",
    "example.org",
]
PROFILE_SITES = [
    "https://t.me/{h}",
    "t.me/{h}",
    "https://vk.com/{h}",
    "vk.com/{h}",
    "https://www.instagram.com/{h}/",
    "instagram.com/{h}",
    "ok.ru/profile/{d}",
    "https://facebook.com/{h}",
    "https://twitter.com/{h}",
    "x.com/{h}",
]


def passport(rng: random.Random) -> tuple[str, int, int]:
    """The text, and the labelled span within it (the series and number)."""
    series = f"{rng.randint(1, 99):02d}{rng.randint(0, 25):02d}"
    number = f"{rng.randint(100000, 999999)}"
    style = rng.randrange(5)
    if style == 0:
        value = f"{series[:2]} {series[2:]} {number}"
        return f"паспорт {value}", 8, 8 + len(value)
    if style == 1:
        value = f"{series} {number}"
        return f"паспорт {value}", 8, 8 + len(value)
    if style == 2:
        text = f"паспорт серии {series} № {number}"
        return text, 14, len(text)
    if style == 3:
        text = f"паспорт РФ серия {series[:2]} {series[2:]} номер {number}"
        return text, 17, len(text)
    value = f"{series[:2]} {series[2:]} {number}"
    return f"паспортные данные: {value}", 19, 19 + len(value)


def email(rng: random.Random) -> str:
    return f"{rng.choice(EMAIL_USERS)}@{rng.choice(EMAIL_HOSTS)}"


def profile(rng: random.Random) -> str:
    site = rng.choice(PROFILE_SITES)
    return site.format(h=rng.choice(HANDLES), d=rng.randint(100000000, 999999999))


def handle(rng: random.Random) -> str:
    return "@" + rng.choice(HANDLES)


# Hard negatives, filled into {NUM_*} slots: never labelled.
def order_number(rng: random.Random) -> str:
    return str(rng.randint(10 ** (rng.randint(5, 9)), 10**10 - 1))


def track_number(rng: random.Random) -> str:
    return rng.choice(["RA", "RR", "CP", "LP"]) + str(rng.randint(100000000, 999999999)) + "RU"


def price(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{rng.randint(1, 99)} {rng.randint(100, 999)} руб.",
            f"{rng.randint(100, 9999)} ₽",
            f"{rng.randint(2, 90) * 100} рублей",
            f"{rng.randint(1, 9)},{rng.randint(1, 9)} млн рублей",
        ]
    )


def date(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.choice([2024, 2025])}",
            f"{rng.randint(1, 28)} ноября",
            f"{rng.randint(1, 28)}.{rng.randint(1, 12):02d}",
            f"{rng.choice([2024, 2025])}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        ]
    )


def time_(rng: random.Random) -> str:
    return f"{rng.randint(7, 22)}:{rng.choice(['00', '15', '30', '45'])}"


RU_TEMPLATES = [
    "[{TIME}] Глава района {PERSON_nom} провёл приём граждан в администрации на улице Ленина, 12.",
    "[{TIME}] Найдена собака: рыжий спаниель в синем ошейнике. Хозяева, звоните {PHONE}.",
    "[{TIME}] Пропал кот, британец, серый. Вознаграждение! Телефон: {PHONE}, {PERSON_nom}.",
    "Продаю детскую коляску, почти новая, {PRICE}. Пишите в личку {HANDLE} или звоните {PHONE}.",
    "Вчера {PERSON_nom} открыл после ремонта пекарню «Колосок» на Садовой, 4. Очередь с утра!",
    "[{TIME}] На улице Гагарина, 17 до {TIME} не будет холодной воды. Водовоз стоит во дворе дома 19.",
    "Благодарим {PERSON_acc} за помощь в организации субботника {DATE}.",
    "Редакция поздравляет {PERSON_acc} с юбилеем! Вопросы и поздравления — на почту {EMAIL}.",
    "Сбор помощи для приюта «Верный друг»: карта {CARD}, получатель {PERSON_nom}.",
    "Переводите на карту Сбербанка {CARD} с пометкой «приют». Отчёт будет {DATE}.",
    "Ищем свидетелей ДТП на перекрёстке Мира и Пушкина {DATE} около {TIME}. Звоните {PHONE}.",
    "Интервью с {PERSON_ins}, директором школы № 5, читайте на нашем сайте.",
    "Заказ № {NUM_ORDER} на сумму {PRICE} готов к выдаче в пункте «Озон» на Заводской, 3.",
    "Ваша посылка {NUM_TRACK} прибыла в отделение Почты России, индекс 238340.",
    "Реквизиты для пожертвований: ИНН {INN10}, КПП 390601001, р/с 40703810520000001234.",
    "ИП {PERSON_nom}, ИНН {INN12}, ОГРНИП 319392600012345. Ремонт холодильников, выезд.",
    "Утерян СНИЛС {SNILS} на имя {PERSON_gen}. Нашедшего просим вернуть за вознаграждение.",
    "Найден кошелёк, внутри {PASSPORT} и банковские карты. Обращаться в дежурную часть.",
    "По вопросам аренды: {PERSON_nom}, {PHONE}, {EMAIL}.",
    "Подписывайтесь на канал {HANDLE} — там все новости Заречинска.",
    "Фотограф {PERSON_nom}: портфолио {PROFILE}, запись по телефону {PHONE}.",
    "Мастер маникюра принимает на Вокзальной, 8. Запись: {PROFILE}.",
    "Доброе утро, Заречинск! Сегодня +4, без осадков, ветер 3 м/с. Хорошего дня!",
    "Внимание! С {DATE} меняется расписание автобуса № 12: первый рейс в {TIME}.",
    "На Центральном рынке с {TIME} открывается осенняя ярмарка — 60 торговых мест.",
    "Слово «Победа» на фасаде ДК «Металлург» подсветят к {DATE}. Смета — {PRICE}.",
    "Команда «Заречинск-Юниор» обыграла гостей из Калининграда со счётом 3:1.",
    "Пенсионерка {PERSON_nom} отметила 100-летие. Поздравления принимает её внучка {PERSON_nom}.",
    "Отдел опеки напоминает: справки выдаются по адресу ул. Чехова, 21, каб. 204, с {TIME}.",
    "Нашей читательнице {PERSON_dat} нужна помощь: перевод по номеру телефона {PHONE} (Сбер).",
    "Пишите нам: {EMAIL}. Реклама — {HANDLE}.",
    "ООО «Ромашка» (ИНН {INN10}) выиграло тендер на ремонт дороги за {PRICE}.",
    "Участковый {PERSON_nom} просит откликнуться очевидцев кражи велосипеда у дома 7.",
    "Сегодня в библиотеке имени Пушкина встреча с писателем {PERSON_ins} в {TIME}.",
    "На остановке у ТЦ «Европа» найдены документы: {PASSPORT}, СНИЛС {SNILS}.",
    "Оплату принимаем на IBAN {IBAN} (для зарубежных переводов), получатель {PERSON_nom}.",
    "Тренер {PERSON_nom} набирает группу по плаванию. Подробности у администратора, тел. {PHONE}.",
    "Работает горячая линия 8-800: по вопросам отопления — в Единую дежурную службу.",
    "Сбор у памятника Ленину в {TIME}. Кто с нами — отмечайтесь под постом.",
    "Школьница {PERSON_nom} заняла первое место на олимпиаде по математике.",
    "Куплю гараж в кооперативе «Мотор», до {PRICE}. {PHONE}, спросить {PERSON_acc}.",
    "Депутат горсовета {PERSON_nom} ответит на вопросы жителей {DATE} в {TIME}.",
    "Объявление: сдаётся квартира, 2 комнаты, {PRICE} в месяц. Звоните: {PHONE}.",
    "Контакты для связи: {PHONE}, {PHONE} (WhatsApp), почта {EMAIL}.",
    "Волонтёры ищут {PERSON_acc}, 78 лет, ушёл из дома {DATE}. Информация — {PHONE}.",
    "Мошенники просят номер карты и код из СМС. Никому не сообщайте код! Номер 900 — официальный.",
    "Номер обращения {NUM_ORDER}, ответ придёт в течение 30 дней.",
    "Нашли ошибку? Пишите {HANDLE}. Предложить новость: {PROFILE}.",
    "Код подтверждения 4817 никому не сообщайте. Срок действия — 5 минут.",
    "Подарок для {PERSON_gen} собирают всем двором: кидайте на {CARD}.",
    "Серия и номер паспорта нужны для записи: {PASSPORT}, пример заполнения на стенде.",
    "Продаётся участок 12 соток, кадастровый номер 39:05:010203:456, {PRICE}.",
    "Москва, Калининград и Заречинск вошли в рейтинг самых зелёных городов.",
    "Электронный адрес приёмной: {EMAIL}. Часы приёма: с {TIME} до {TIME}.",
    "Тел. дежурного: {PHONE}. ИНН организации {INN10}.",
    "Номер договора 1234567890 указан в квитанции, лицевой счёт 0012345678.",
    "Трек для отслеживания: {NUM_TRACK}. Стоимость доставки {PRICE}.",
    "Спасибо {PERSON_dat} и {PERSON_dat} за организацию концерта во дворе!",
]
EN_TEMPLATES = [
    "Our reporter {EN_PERSON} spoke to residents on Main Street this Monday.",
    "Contact {EN_PERSON} at {EMAIL} or call {PHONE_INTL}.",
    "Lost dog near Central Park on {DATE}. Please call {PHONE_INTL}, ask for {EN_PERSON}.",
    "Follow {HANDLE} for updates; full story at {PROFILE}.",
    "Donations: IBAN {IBAN}, account holder {EN_PERSON}.",
    "Order #{NUM_ORDER} ships from New York on Friday. Tracking {NUM_TRACK}.",
    "Apple and Microsoft both reported earnings in October. Analysts expected more.",
    "Thanks to {EN_PERSON} and {EN_PERSON} for running the charity concert!",
    "Please pay by card {CARD} before the deadline.",
    "The mayor met {EN_PERSON}, the head of the local school board, in London.",
    "Call us at {PHONE_INTL} between {TIME} and {TIME}.",
    "Monday: Rain in Boston. Tuesday: Sunny. Wednesday: Clouds over Chicago.",
    "Email {EMAIL} to get the slides. Speaker: {EN_PERSON}.",
    "Reach {EN_PERSON} on Telegram: {HANDLE}.",
    "The Grand Hotel on Victoria Road reopens on {DATE} after a 2 million dollar refit.",
]
KINDS = {
    "PERSON": "PERSON",
    "EN_PERSON": "PERSON",
    "PHONE": "PHONE",
    "PHONE_INTL": "PHONE",
    "EMAIL": "EMAIL",
    "HANDLE": "HANDLE",
    "PROFILE": "PROFILE",
    "CARD": "CARD",
    "IBAN": "IBAN",
    "INN10": "INN",
    "INN12": "INN",
    "SNILS": "SNILS",
    "PASSPORT": "PASSPORT",
}
CASES = {"nom": 0, "gen": 1, "acc": 1, "dat": 2, "ins": 3}


def fill(slot: str, rng: random.Random) -> tuple[str, tuple[str, int, int] | None]:
    """The text for a slot and the labelled span inside it (kind, start, end), or None."""
    base, _, case = slot.partition("_")
    if base == "PERSON":
        forms = rng.choice(RU_NAMES)
        index = CASES[case]
        if case == "acc" and forms[0].split()[0][-1] in "ая":  # feminine accusative
            text = acc_feminine(forms[0])
        else:
            text = forms[index]
        return text, ("PERSON", 0, len(text))
    makers = {
        "EN_PERSON": lambda: rng.choice(EN_NAMES),
        "PHONE": lambda: phone_ru(rng) if rng.random() < 0.85 else phone_intl(rng),
        "PHONE_INTL": lambda: phone_intl(rng),
        "EMAIL": lambda: email(rng),
        "HANDLE": lambda: handle(rng),
        "PROFILE": lambda: profile(rng),
        "CARD": lambda: card(rng),
        "IBAN": lambda: iban(rng),
        "INN10": lambda: inn10(rng),
        "INN12": lambda: inn12(rng),
        "SNILS": lambda: snils(rng),
    }
    if slot == "PASSPORT":
        text, start, end = passport(rng)
        return text, ("PASSPORT", start, end)
    if slot in makers:
        text = makers[slot]()
        return text, (KINDS[slot], 0, len(text))
    negatives = {
        "NUM_ORDER": lambda: order_number(rng),
        "NUM_TRACK": lambda: track_number(rng),
        "PRICE": lambda: price(rng),
        "DATE": lambda: date(rng),
        "TIME": lambda: time_(rng),
    }
    return negatives[slot](), None


def acc_feminine(nominative: str) -> str:
    out = []
    for word in nominative.split():
        if word.endswith("ая"):
            out.append(word[:-2] + "ую")
        elif word.endswith("а") and not word.endswith("."):
            out.append(word[:-1] + "у")
        elif word.endswith("я"):
            out.append(word[:-1] + "ю")
        else:
            out.append(word)
    return " ".join(out)


NEGATIVE_EXTRAS = [
    # numbers that fail a checksum, written as if they were one
    lambda rng: f"Номер карты лояльности {card(rng, valid=False)} — скидка 5%.",
    lambda rng: f"Код объекта {inn10(rng, valid=False)} в реестре.",
    lambda rng: f"Номер бланка {snils(rng, valid=False)}.",
    lambda rng: f"Штрихкод {rng.randint(10**12, 10**13 - 1)} на упаковке.",
]


def post(rng: random.Random, templates: list[str]) -> tuple[str, list[dict[str, object]]]:
    chosen = rng.sample(templates, rng.randint(1, 4))
    if rng.random() < 0.25 and templates is RU_TEMPLATES:
        chosen.append(rng.choice(NEGATIVE_EXTRAS)(rng))
    text = ""
    spans: list[dict[str, object]] = []
    for i, template in enumerate(chosen):
        if i:
            text += rng.choice(["\n", " ", "\n\n"])
        pos = 0
        for match in re.finditer(r"\{([A-Z0-9_a-z]+)\}", template):
            text += template[pos : match.start()]
            value, span = fill(match.group(1), rng)
            if span is not None:
                kind, start, end = span
                spans.append({"kind": kind, "start": len(text) + start, "end": len(text) + end})
            text += value
            pos = match.end()
        text += template[pos:]
    return text, spans


HANDWRITTEN = Path(__file__).with_name("handwritten.txt")
MARK = re.compile(r"\[\[([A-Z]+):(.+?)\]\]")


def handwritten() -> list[tuple[str, list[dict[str, object]]]]:
    """The hand-written posts (handwritten.txt), marks stripped and turned into spans."""
    posts = []
    for line in HANDWRITTEN.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, spans, position = "", [], 0
        for match in MARK.finditer(line):
            text += line[position : match.start()]
            spans.append(
                {"kind": match.group(1), "start": len(text), "end": len(text) + len(match.group(2))}
            )
            text += match.group(2)
            position = match.end()
        posts.append((text + line[position:], spans))
    return posts


def main() -> None:
    rng = random.Random(SEED)
    lines = []
    for n, (text, spans) in enumerate(handwritten(), start=1):
        lang = "en" if not re.search("[а-яё]", text, re.IGNORECASE) else "ru"
        lines.append({"id": f"hand-{n:03d}", "lang": lang, "text": text, "spans": spans})
    for n in range(POSTS_RU + POSTS_EN):
        templates = RU_TEMPLATES if n < POSTS_RU else EN_TEMPLATES
        text, spans = post(rng, templates)
        lang = "ru" if n < POSTS_RU else "en"
        lines.append({"id": f"{lang}-{n + 1:04d}", "lang": lang, "text": text, "spans": spans})
    OUT.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    print(f"{OUT}: {len(lines)} posts, {sum(len(x['spans']) for x in lines)} spans")


if __name__ == "__main__":
    main()
