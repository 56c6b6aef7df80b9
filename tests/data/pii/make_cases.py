#!/usr/bin/env python3
"""Writes cases.jsonl: the labelled personal-data set for the scrubber (tests/unit/test_scrub.cpp).

Every case was written by hand as a template below; this script only fills the labelled values
in (so each value appears verbatim in its text) and checks the checksums of the cards and IBANs
it uses. Run it from anywhere: python3 tests/data/pii/make_cases.py
Each line: {"text": ..., "spans": [{"type": "EMAIL", "value": "..."}]}; no spans = a negative.
"""
import json, os, re

def luhn_ok(s):
    d = [int(c) for c in s if c.isdigit()]
    total = 0
    for i, x in enumerate(reversed(d)):
        if i % 2: x = x * 2 - 9 if x * 2 > 9 else x * 2
        total += x
    return total % 10 == 0

def iban_ok(s):
    s = s.replace(" ", "")
    r = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in r)) % 97 == 1

cases = []
def pos(text, **values):
    """text with {TYPE} or {TYPE2} fields; values: field -> value."""
    spans = []
    for field, value in values.items():
        typ = re.sub(r"\d+$", "", field)
        spans.append({"type": typ, "value": value})
    cases.append({"text": text.format(**values), "spans": spans})
def neg(text):
    cases.append({"text": text, "spans": []})

# ---- EMAIL
for t, v in [
    ("Please reset the password for {EMAIL}, she is locked out.", "maria.garcia@example.com"),
    ("Ticket #4412: customer {EMAIL} reports double billing", "j.doe+billing@mail.co.uk"),
    ('{{"to": "{EMAIL}", "subject": "Your invoice"}}', "accounts@acme-corp.io"),
    ("2024-03-11T10:22:01Z INFO sent welcome mail to={EMAIL}", "peter_k92@gmx.de"),
    ("cc {EMAIL} on the escalation", "support.team@helpdesk.example.org"),
    ("git config user.email {EMAIL}", "dev.ops@company.internal.net"),
    ("From: {EMAIL}\nSubject: refund", "lena.schmidt@web.de"),
    ("contact me at {EMAIL}.", "tom@tomsmith.dev"),
    ("reply-to:<{EMAIL}>", "no-reply@notifications.shop.com"),
    ("User {EMAIL} failed login 3 times", "ADMIN@EXAMPLE.COM"),
    ("send_email(recipient='{EMAIL}', body=summary)", "h.tanaka@corp.jp"),
    ("Owner: {EMAIL} (on call this week)", "oncall-sre@infra.example.net"),
]:
    pos(t, EMAIL=v)
pos("Forward from {EMAIL} to {EMAIL2} please", EMAIL="alice@example.com", EMAIL2="bob.jones@example.org")

# ---- PHONE
for t, v in [
    ("Call me on {PHONE} after 5pm.", "+44 20 7946 0958"),
    ("Customer phone: {PHONE}", "(555) 123-4567"),
    ("Escalation hotline {PHONE}", "+1-202-555-0143"),
    ("Büro: {PHONE}", "030 12345678"),
    ('{{"name": "delivery", "phone": "{PHONE}"}}', "+49 171 2345678"),
    ("please text {PHONE} when the driver arrives", "555-867-5309"),
    ("Tel. {PHONE}", "+33 1 42 68 53 00"),
    ("my mobile is {PHONE}", "07700 900123"),
    ("phone={PHONE} status=verified", "+14155552671"),
    ("Reach the office at {PHONE} (ext. 12)", "202.555.0182"),
    ("WhatsApp {PHONE}", "+91 98765 43210"),
    ("Kontakt: {PHONE}", "+49 (0)30 901820"),
    ("contact number: {PHONE}", "+61 2 9374 4000"),
    ("Rückruf bitte unter {PHONE}", "089 1234567"),
    ("Call {PHONE} to confirm the booking.", "+34 912 345 678"),
    ("He left a voicemail from {PHONE}.", "(312) 555-0199"),
]:
    pos(t, PHONE=v)
pos("Old number {PHONE}, new number {PHONE2}", PHONE="+1 415 555 0100", PHONE2="+1 415 555 0111")

# ---- CREDIT_CARD
cards = ["4111 1111 1111 1111", "4012888888881881", "5555-5555-5555-4444", "5105 1051 0510 5100", "378282246310005",
         "3714 496353 98431", "6011111111111117", "6011 0009 9013 9424", "3530111333300000", "4242 4242 4242 4242",
         "2223003122003222", "5200 8282 8282 8210", "4000056655665556", "36227206271667"]
for c in cards: assert luhn_ok(c), c
for t, v in zip([
    "Card number: {CREDIT_CARD}, exp 12/27",
    "I paid with {CREDIT_CARD} but was charged twice",
    '{{"card": "{CREDIT_CARD}", "cvv": "***"}}',
    "charge failed for card {CREDIT_CARD} (insufficient funds)",
    "amex {CREDIT_CARD}",
    "Amex: {CREDIT_CARD} exp 03/26",
    "pan={CREDIT_CARD}",
    "my discover card {CREDIT_CARD} was declined",
    "JCB card {CREDIT_CARD}",
    "Use test card {CREDIT_CARD} in staging",
    "Mastercard {CREDIT_CARD} on file",
    "payment_method: {CREDIT_CARD}",
    "Visa {CREDIT_CARD} — please update",
    "Diners Club {CREDIT_CARD}",
], cards):
    pos(t, CREDIT_CARD=v)

# ---- IBAN
ibans = ["DE89 3704 0044 0532 0130 00", "GB29 NWBK 6016 1331 9268 19", "FR14 2004 1010 0505 0001 3M02 606",
         "NL91ABNA0417164300", "ES9121000418450200051332", "IT60X0542811101000000123456", "CH9300762011623852957",
         "BE68539007547034", "AT611904300234573201", "PL61109010140000071219812874", "SE4550000000058398257466",
         "DK5000400440116243", "FI2112345600000785", "IE29AIBK93115212345678"]
for i in ibans: assert iban_ok(i), i
for t, v in zip([
    "Please transfer the refund to {IBAN}.",
    "IBAN: {IBAN}",
    '{{"iban": "{IBAN}", "bic": "NWBKGB2L"}}',
    "Kontoinhaber Müller, IBAN {IBAN}",
    "refund_to={IBAN}",
    "Bankverbindung: {IBAN} (ING)",
    "Zahlung an {IBAN}",
    "account {IBAN} verified",
    "Überweisung auf {IBAN} erfolgt",
    "update_payout(iban=\"{IBAN}\")",
    "New payee IBAN {IBAN} added",
    "Bank details: {IBAN}",
    "tilisiirto {IBAN}",
    "IBAN {IBAN} — BIC AIBKIE2D",
], ibans):
    pos(t, IBAN=v)

# ---- SSN
for t, v in [
    ("SSN: {SSN}", "123-45-6789"),
    ("My social security number is {SSN}.", "078-05-1120"),
    ('{{"ssn": "{SSN}", "dob": "1980-04-12"}}', "219-09-9999"),
    ("applicant ssn={SSN} verified", "536-22-1234"),
    ("W-2 shows {SSN} for the employee", "401-33-7821"),
    ("Tax ID {SSN}", "665-12-3456"),
    ("ssn on file: {SSN}", "287-65-4321"),
    ("Please confirm SSN {SSN} before payroll", "345-67-8901"),
    ("The form lists {SSN} as the social security number", "772-10-2020"),
    ("record: name=redacted ssn={SSN}", "001-01-0001"),
    ("SSN {SSN}; DOB 04/12/1980", "512-44-9080"),
    ("social: {SSN}", "899-99-1234"),
]:
    pos(t, SSN=v)

# ---- IP
for t, v in [
    ("Connection refused from {IP}", "192.168.1.23"),
    ("2024-05-01 12:00:01 sshd[812]: Failed password for root from {IP} port 22", "203.0.113.77"),
    ('{{"client_ip": "{IP}"}}', "10.0.12.5"),
    ("nginx: {IP} - - [01/May/2024] \"GET / HTTP/1.1\" 200", "198.51.100.4"),
    ("ping {IP}", "8.8.8.8"),
    ("The user's address was {IP}.", "172.16.254.1"),
    ("Server listens on {IP}", "2001:db8:85a3::8a2e:370:7334"),
    ("link-local {IP} on eth0", "fe80::1ff:fe23:4567:890a"),
    ("blocked {IP} after 100 requests", "2001:0db8:0000:0000:0000:ff00:0042:8329"),
    ("X-Forwarded-For: {IP}", "81.2.69.160"),
    ("ssh admin@{IP}", "34.201.17.99"),
    ("allowlist: {IP}, 10.0.0.0/8", "52.14.88.201"),
    ("DNS resolved to {IP}", "2606:4700:4700::1111"),
    ("remote_addr={IP} user_agent=curl", "100.64.3.9"),
]:
    pos(t, IP=v)

# ---- SECRET
for t, v in [
    ("OPENAI_API_KEY={SECRET}", "sk-proj-4fJ9kLm2Qx7Rt1Vb8Nz3Wc6Yd0He5Gs"),
    ("my key is {SECRET} can you check why it fails", "sk-9xT2bQmV4kLp7RzW1nYc5HdJ8sFa3GeU"),
    ("git clone https://{SECRET}@github.com/acme/app.git", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    ("GITHUB_TOKEN: {SECRET}", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
    ("aws_access_key_id = {SECRET}", "AKIAIOSFODNN7EXAMPLE"),
    ("SLACK_BOT_TOKEN={SECRET}", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"),
    ("maps key {SECRET}", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    ("export GITLAB_TOKEN={SECRET}", "glpat-xY7zQ2wE9rT4uI1oP6aS"),
    ("Authorization: Bearer {SECRET}", "8f3Kq9ZpL2mXv7RtY1cW4nBd"),
    ("token: {SECRET}", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("stripe secret {SECRET}", "sk_live_51HqLyjWDarjtT1zdp7dcXjkPzqFYZ9xT4b"),
    ("DB_PASSWORD={SECRET}", "Xk9#mP2vL7qR4tW8zN1c"),
    ("api_key: {SECRET}", "Zp8Lq2Wx9Rt4Vb7Nm3Kc6Hy1Jd5Gf0Se"),
    ('{{"headers": {{"x-api-key": "{SECRET}"}}}}', "Q7wE2rT9yU4iO1pA6sD3fG8hJ5kL0zXc"),
    ("session secret = {SECRET}", "mA9vK2xQ7bT4nR8wZ1cY5hL3jD6"),
    ("gho token {SECRET} leaked in the log", "gho_16C7e42F292c6912E7710c838347Ae178B4a"),
]:
    pos(t, SECRET=v)

# ---- URL_CREDENTIALS
for t, v in [
    ("DATABASE_URL={URL_CREDENTIALS}/app", "postgres://admin:s3cretPw@db.internal:5432"),
    ("connect to {URL_CREDENTIALS} and list keys", "redis://default:hunter22@cache.example.com:6379"),
    ("pip install --index-url {URL_CREDENTIALS}/simple pkg", "https://deploy:tok3n@pypi.corp.example"),
    ("mongo uri: {URL_CREDENTIALS}/orders?retryWrites=true", "mongodb+srv://svc_orders:P4ssw0rd@cluster0.ab12c.mongodb.net"),
    ("ftp {URL_CREDENTIALS}/upload", "ftp://ftpuser:qwerty123@files.example.org"),
    ('{{"broker": "{URL_CREDENTIALS}"}}', "amqp://guest:guestpass@rabbit.local:5672"),
    ("proxy set to {URL_CREDENTIALS}", "http://bob:letmein@proxy.corp:3128"),
    ("Fetched {URL_CREDENTIALS}/repo.git", "https://oauth2:abcDEF123@gitlab.example.com"),
    ("mysql -h via {URL_CREDENTIALS}/shop", "mysql://root:toor@10.1.2.3:3306"),
    ("webhook posted to {URL_CREDENTIALS}/hook", "https://user:pa55word@hooks.example.net"),
    ("sentry dsn {URL_CREDENTIALS}/42", "https://public:secret@sentry.example.com"),
    ("s3 mirror {URL_CREDENTIALS}/bucket", "s3://AKEY:SKEY@minio.local:9000"),
]:
    pos(t, URL_CREDENTIALS=v)

# ---- PERSON
for t, v in [
    ("Hi, my name is {PERSON} and I can't log in.", "Maria Garcia"),
    ("Dear Mr. {PERSON},\nyour order has shipped.", "Thompson"),
    ("Dear {PERSON}, thanks for reaching out.", "Sarah"),
    ("Best regards,\n{PERSON}\nAcme Support", "Jonathan Miller"),
    ("Assignee: {PERSON}", "Priya Sharma"),
    ("The ticket was opened by {PERSON} yesterday.", "Lukas Weber"),
    ("Please ask {PERSON} to approve the PR.", "Emily Chen"),
    ("Patient: {PERSON}, age 54", "Robert Johnson"),
    ("Dr. {PERSON} will call you back.", "Okafor"),
    ("Hi {PERSON}, the build is green again.", "Tom"),
    ('{{"customer_name": "{PERSON}", "tier": "gold"}}', "Sophie Martin"),
    ("I spoke with {PERSON} from billing.", "David Kim"),
    ("Thanks,\n{PERSON}", "Anna"),
    ("Signed: {PERSON}", "Giulia Rossi"),
    ("Ms. {PERSON} requested a refund.", "Elena Petrova"),
    ("Reporter: {PERSON} <redacted>", "Kevin O'Brien"),
    ("Kind regards, {PERSON}", "Hannah Becker"),
    ("Author: {PERSON}\nDate: Mon Mar 4", "Daniel Schneider"),
    ("This is {PERSON} from the Berlin office.", "Felix"),
    ("Can {PERSON} review the contract?", "Catherine Dubois"),
    ("Deliver to {PERSON}, front desk", "James Wilson"),
    ("Prof. {PERSON} gave the keynote.", "Ingrid Larsen"),
    ("Meeting notes: {PERSON} and {PERSON2} agreed on the plan.", "Laura Fischer"),
    ("Contact {PERSON} for access.", "Ahmed Hassan"),
]:
    if "PERSON2" in t:
        pos(t, PERSON=v, PERSON2="Mike Brown")
    else:
        pos(t, PERSON=v)

# ---- ADDRESS
for t, v in [
    ("Ship to {ADDRESS}.", "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ("I live at {ADDRESS} and the parcel never arrived.", "221B Baker Street, London NW1 6XE"),
    ("Billing address: {ADDRESS}", "742 Evergreen Terrace, Springfield"),
    ('{{"street": "{ADDRESS}"}}', "350 5th Ave"),
    ("Lieferadresse: {ADDRESS}", "Hauptstraße 5, 10115 Berlin"),
    ("Adresse : {ADDRESS}", "12 rue de la Paix, 75002 Paris"),
    ("moved to {ADDRESS} last month", "48 Oak Lane, Apt 3B"),
    ("The office is at {ADDRESS}", "100 Main St, Suite 200, Boston, MA 02110"),
    ("return label for {ADDRESS}", "9 Elm Rd"),
    ("Wohnhaft in der {ADDRESS}", "Lindenallee 23a"),
    ("visit us at {ADDRESS} on weekdays", "77 Sunset Blvd, Los Angeles, CA 90028"),
    ("delivery_address={ADDRESS}", "1 Infinite Loop, Cupertino, CA 95014"),
    ("Pick up from {ADDRESS}", "2500 West Lake Drive"),
    ("Rechnungsanschrift: {ADDRESS}", "Bahnhofstr. 3"),
    ("Our warehouse: {ADDRESS}", "15 Harbour Road, Dublin"),
]:
    pos(t, ADDRESS=v)

# ---- mixed, agent-style
pos("Support ticket from {PERSON} ({EMAIL}, {PHONE}): card {CREDIT_CARD} charged twice.",
    PERSON="Olivia Brown", EMAIL="olivia.b@example.com", PHONE="+1 617 555 0134", CREDIT_CARD="4111-1111-1111-1111")
pos('{{"name": "lookup_customer", "arguments": {{"email": "{EMAIL}", "ip": "{IP}"}}}}',
    EMAIL="r.patel@example.co.in", IP="49.36.120.7")
pos("User {EMAIL} logged in from {IP} using key {SECRET}",
    EMAIL="ops@example.net", IP="192.0.2.44", SECRET="sk-live-Tq3Wz8Yx2Lp5Mn7Rv9Bc4Kd")
pos("Please wire to {IBAN} and confirm with {PERSON} at {PHONE}",
    IBAN="DE44 5001 0517 5407 3249 31", PERSON="Stefan Wagner", PHONE="+49 69 1234 5678")
pos("Hi {PERSON}, I've updated your address to {ADDRESS} and your phone to {PHONE}.",
    PERSON="Jessica", ADDRESS="58 Maple Avenue, Portland, OR 97205", PHONE="(503) 555-0177")
pos("export DATABASE_URL={URL_CREDENTIALS}/prod && export API_KEY={SECRET}",
    URL_CREDENTIALS="postgresql://app:Zx81qw@10.20.30.40:5432", SECRET="sk-proj-8HkP2sLq9ZcV4bN7mX1wR3tY")
pos("Applicant Mr. {PERSON}, SSN {SSN}, lives at {ADDRESS}.",
    PERSON="Daniel Carter", SSN="432-11-9087", ADDRESS="14 Willow Court, Austin, TX 78701")
pos("log: 2024-06-01T08:00:00Z auth ok user={EMAIL} src={IP}",
    EMAIL="kim.lee@example.kr", IP="2001:db8::42")
pos("From: {PERSON} <{EMAIL}>", PERSON="Lisa Hoffmann", EMAIL="lisa.hoffmann@firma.de")
pos("My card {CREDIT_CARD} and IBAN {IBAN} are both on file",
    CREDIT_CARD="5555 5555 5555 4444", IBAN="GB82 WEST 1234 5698 7654 32")
assert iban_ok("DE44 5001 0517 5407 3249 31") and iban_ok("GB82 WEST 1234 5698 7654 32")

# ---- hard negatives
negatives = [
    # order numbers, invoices, tracking
    "Order #100234567 has shipped.", "Your order number is 4415-2231-9987.", "Invoice INV-2024-00123 is overdue.",
    "Tracking: 1Z999AA10123456784", "PO number 4500012345 approved", "RMA-88231-B created for the return",
    "ticket_id=7781234 priority=high", "Case 00123456 escalated to tier 2", "SKU 555-1234-ABC is out of stock",
    "Order ORD-555-123-4567 is delayed", "ref no. 20240512-0042", "Your booking code is XJ4K9P.",
    # versions
    "Upgraded to version 1.2.3.4 yesterday", "Python 3.11.4 is required", "node v18.17.1", "release 10.0 is out",
    "kernel 6.1.0-18-amd64", "Bump lodash from 4.17.20 to 4.17.21", "Chrome 124.0.6367.91 crashed",
    "version 2.10.3.1 fixes the bug", "Using CUDA 12.2 and cuDNN 8.9.7", "API v2.3.1.5 deprecated",
    "see RFC 2616 section 14.8", "Setting timeout to 10.5 seconds",
    # hashes and ids
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed the leak",
    "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "git checkout a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", "Merged 1b2c3d4 into main",
    "request_id=550e8400-e29b-41d4-a716-446655440000", "UUID: 123e4567-e89b-12d3-a456-426614174000",
    "md5 d41d8cd98f00b204e9800998ecf8427e", "trace 4bf92f3577b34da6a3ce929d0e0e4736",
    "docker image sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "Build id 7f9a2c1e-5b3d-4e6f-8a9b-0c1d2e3f4a5b finished",
    # Luhn-invalid card-like numbers
    "card 4111 1111 1111 1112 was rejected as invalid", "test number 1234 5678 9012 3456",
    "number 5555 5555 5555 4445", "pan=4012888888881882", "barcode 4006381333932",
    "EAN 9780201379624", "serial 6011 1111 1111 1118", "account 3782 822463 10006",
    # invalid IBANs
    "IBAN DE89 3704 0044 0532 0130 01 bounced", "GB29 NWBK 6016 1331 9268 18 is wrong", "FR14 2004 1010 0505 0001 3M02 607",
    "NL91ABNA0417164301", "code AB12 3456 7890 1234", "XX00 0000 0000 0000 00",
    # invalid SSNs, dates, times
    "SSN 000-12-3456 is invalid", "number 666-45-1234", "ref 900-12-3456", "id 123-00-4567", "id 123-45-0000",
    "Meeting on 2024-05-12 at 14:30", "deadline 12/31/2024", "Born 04.07.1985", "timestamp 2024-01-15T10:22:33Z",
    "runs at 09:15:00 daily", "the window is 12:00-13:30", "Date: 31.12.2023 23:59",
    # prices, quantities
    "Total: $1,234.56", "Price 19.99 EUR", "salary range 85,000 - 95,000 USD", "12,345,678 rows processed",
    "weight 1.250 kg", "The loan is 250000 at 3.5% for 30 years", "CPU 3.2 GHz, 16 GB RAM, 512 GB SSD",
    # phone-like product codes and other numbers
    "Part no. 030-1234-56 is discontinued", "model XK-555-0199", "error code 0x80070005",
    "Call stack depth 1024", "Port 8080 and 5432 are open", "ISBN 978-3-16-148410-0",
    "Flight LH 400 departs 10:45", "zip code 90210", "lat 52.5200, lon 13.4050",
    "coordinates 40.7128,-74.0060", "ratio 16:9", "Room 4B, floor 12",
    # IP-like non-addresses
    "version 1.2.3.4.5", "values 10.0 and 256.1.1.1", "OID 1.3.6.1.4.1.311", "matrix 1.5.2.8.9.0",
    "std::vector<int> v; a::b::c", "MAC 00:1A:2B:3C:4D:5E", "time 12:30:45",
    "The address 999.999.999.999 is not valid",
    # secret-like non-secrets
    "function getUserAccountById(id) { return db.find(id); }", "class AbstractSingletonProxyFactoryBean {}",
    "the variable MAX_RETRY_COUNT_PER_REQUEST is 5", "path /usr/local/lib/python3.11/site-packages/requests",
    "file name quarterly_report_final_v2.xlsx", "https://example.com/docs/getting-started/installation",
    "Use sk-learn for the baseline", "ghp_ is the prefix GitHub uses for tokens",
    "Bearer tokens go in the Authorization header",
    "base image python:3.11-slim-bookworm",
    "https://github.com/acme/app/pull/1234",
    # URLs without credentials
    "see https://docs.example.com/api/v1/users?page=2", "redis://cache.example.com:6379/0",
    "postgres://db.internal:5432/app", "mailto link: https://example.com/contact",
    # capitalised words that are not names
    "The meeting moved from Monday to Friday in May.", "We shipped Apple Watch support in June.",
    "Berlin, Paris and London offices are closed on Christmas Day.", "Microsoft Teams and Google Drive are synced.",
    "Amazon Web Services billing for March", "Turn on Dark Mode in Settings.",
    "The New York Times reported it.", "Visual Studio Code crashed after the update.",
    "Welcome to Customer Support!", "Dear Customer, your order is ready.", "Hi Team, the deploy is done.",
    "Thanks, Support", "Best regards, The Acme Team", "Ask Jeeves was a search engine.",
    "Grace period ends Friday.", "Will it rain in Seattle?", "Dear Sir or Madam,",
    "Mark the task as done.", "Hope Street Coffee is great.",
    # address-like non-addresses
    "We sold 300 Main Street Journals last week?", "Step 3: Drive to the airport",
    "Chapter 12 Road Safety Rules", "He ran 5 km on Sunday.", "Room 101 is on the 3rd floor",
    # emails that are not emails
    "use the @ operator in Python 3.9", "user@localhost cannot receive mail", "decorator @app.route('/')",
    "npm install @types/node@20.11.0",
    # misc agent-style text
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
    "SELECT id, created_at FROM orders WHERE total > 100 LIMIT 50;",
    "Traceback (most recent call last): File \"main.py\", line 42, in <module>",
    "for i in range(10): print(i * 3.14)", "kubectl scale deployment web --replicas=3",
    "HTTP/1.1 503 Service Unavailable", "Retry-After: 120", "Content-Length: 348",
    "The sum of 12345 and 67890 is 80235.", "The answer is 42.",
    "Temperature 21.5 C, humidity 45%", "Please summarise the attached PDF in 3 bullet points.",
]
for n in negatives: neg(n)

# ---- second batch (written after the detectors, to check they generalise; see README)
pos("hey can u update my email to {EMAIL} thx", EMAIL="jake_88@hotmail.com")
pos("[ERROR] smtp: 550 mailbox unavailable <{EMAIL}>", EMAIL="x.y.z@sub.domain.example")
pos("Invite {EMAIL}, {EMAIL2} and {EMAIL3} to the channel", EMAIL="a@b.io", EMAIL2="c.d@e.fr", EMAIL3="f-g@h.de")
pos("CSV row: 1042,{PERSON},{EMAIL},premium", PERSON="Noah Fischer", EMAIL="noah.fischer@posteo.de")
pos("ring me at {PHONE} tomorrow morning", PHONE="+353 1 234 5678")
pos("Customer callback number {PHONE} (mobile)", PHONE="+1 (646) 555-3890")
pos("Numéro: {PHONE}", PHONE="+33 6 12 34 56 78")
pos("tel:{PHONE}", PHONE="+81-3-1234-5678")
pos('{{"contact": {{"phone": "{PHONE}", "pref": "sms"}}}}', PHONE="(415) 555-2671")
pos("If urgent, dial {PHONE}.", PHONE="020 7946 0000")
pos("charged on {CREDIT_CARD} twice this month", CREDIT_CARD="4532 0151 1283 0366")
pos("card_number: '{CREDIT_CARD}'", CREDIT_CARD="5425233430109903")
pos("The last payment used {CREDIT_CARD}.", CREDIT_CARD="4916-3385-0608-2832")
pos("Rückerstattung bitte auf {IBAN}", IBAN="DE75 5121 0800 1245 1261 99")
pos("payout account: {IBAN}", IBAN="NL02ABNA0123456789")
pos("IBAN {IBAN} (Santander)", IBAN="ES79 2100 0813 6101 2345 6789")
pos("employee ssn {SSN} in payroll export", SSN="234-56-7890")
pos("SSN#: {SSN}", SSN="609-33-1842")
pos("Failed login from {IP} (3 attempts)", IP="45.33.32.156")
pos("upstream {IP}:8080 timed out", IP="10.244.1.17")
pos("AAAA record -> {IP}", IP="2a00:1450:4001:82b::200e")
pos("client={IP} method=POST path=/v1/chat", IP="185.199.108.153")
pos("OPENAI_API_KEY=\"{SECRET}\"", SECRET="sk-proj-Qm4Xz9Lp2Rt7Vb1Nc8Wd3Ye6Hf0Gj5Ks")
pos("curl -H 'Authorization: Bearer {SECRET}' https://api.example.com", SECRET="eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhY21lIn0.c2lnbmF0dXJlX2hlcmVfMTIz")
pos("aws_secret_access_key = {SECRET}", SECRET="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
pos("slack: {SECRET}", SECRET="xoxp-2048-4096-8192-a1b2c3d4e5f6")
pos("config: {{ token: '{SECRET}' }}", SECRET="glpat-Ab3De6Gh9Jk2Mn5Pq8St")
pos("remote = {URL_CREDENTIALS}/team/repo.git", URL_CREDENTIALS="https://x-access-token:ghs_abc123XYZ@github.com")
pos("amqps://{URL_CREDENTIALS}", URL_CREDENTIALS="svc:Pa55@mq.example.com:5671")
pos("SQLALCHEMY_DATABASE_URI = '{URL_CREDENTIALS}/crm'", URL_CREDENTIALS="mysql+pymysql://crm:crm-pw-2024@db01:3306")
pos("Hello {PERSON}, your ticket has been resolved.", PERSON="Daniela")
pos("Regards,\n{PERSON}\nHead of Finance", PERSON="Markus Vogel")
pos("The contract was signed by {PERSON} on behalf of Acme.", PERSON="Isabella Moreno")
pos("{PERSON} (customer since 2019) wants a refund.", PERSON="Oliver Bennett")
pos("Mrs. {PERSON} called about her delivery.", PERSON="Nakamura")
pos("cc: {PERSON}, {PERSON2}", PERSON="Rachel Green", PERSON2="Ross Geller")
pos("I'm {PERSON}, the new account manager.", PERSON="Chloe")
pos("Send it to {ADDRESS}", ADDRESS="4059 Mount Lee Drive, Hollywood, CA 90068")
pos("address: {ADDRESS}", ADDRESS="10 Downing Street, London SW1A 2AA")
pos("Anschrift: {ADDRESS}", ADDRESS="Goethestraße 12, 60313 Frankfurt")
pos("meet at {ADDRESS} at noon", ADDRESS="88 Colin P Kelly Jr Street")
pos("Our new office: {ADDRESS}", ADDRESS="500 Market St, Suite 400, San Francisco, CA 94105")
pos("livraison au {ADDRESS}", ADDRESS="5 avenue Anatole France, 75007 Paris")
for n in [
    "Order 4111-2222-3333 shipped via UPS", "Invoice total 1,299.00 due 2025-01-31", "build 2024.05.17.3 passed",
    "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709", "etag \"33a64df551425fcc55e4d42a148795d9f25f89d4\"",
    "object id 6f1ed002ab5595859014ebf0951522d9", "span_id=00f067aa0ba902b7", "container 4c01db0b339c",
    "release-2.4.1-rc.3", "go 1.22.3 linux/amd64", "libssl.so.3.0.2", "iOS 17.4.1 on iPhone 15",
    "card ending in 4242", "last four digits 1881", "4111 1111 1111", "Amount: 4,111,111.11 USD",
    "2025-03-14 15:09:26.535 UTC", "Q3 2024 revenue grew 12.5%", "at 07:45, 08:15 and 12:00",
    "The 2020 election", "Route 66 is long", "Highway 101 traffic", "Apollo 11 landed in 1969",
    "Phoenix and Austin are growing fast", "Jordan River flows south", "Paris Hilton hotel bookings",
    "Chrome, Firefox and Safari", "Nvidia H100 GPUs", "Samsung Galaxy S24 Ultra", "Tesla Model 3",
    "Happy Friday, everyone!", "Merry Christmas and Happy New Year", "Spring Boot 3.2 with Java 21",
    "Version: 10.0.19045.4291", "IP address field is empty", "192.168.x.x is a private range",
    "CVE-2024-3094 affects xz 5.6.0 and 5.6.1", "HTTP 429 Too Many Requests", "error: E0382 borrow of moved value",
    "the key is in the vault, not here", "export PATH=$HOME/.local/bin:$PATH", "sk-123 is too short to be a key",
    "password: <redacted>", "token=${GITHUB_TOKEN}", "AKIA prefix means an AWS access key",
    "phone: not provided", "email: n/a", "server listening on 127.0.0.1:8080 and [::1]:8080",
    'key.find_first_not_of("0123456789")', 'const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";',
    "bind 0.0.0.0:443", "TEST(QuantizeTest, Q8_0LogitsStayCloseToF32) {", "[ RUN ] ServerTest.TwentyThousandPropertiesAreA400", "Ticket 555-0100 reopened", "ZIP 10115", "EAN 4006381333931",
]:
    neg(n)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.jsonl")
with open(path, "w", encoding="utf-8") as f:
    for c in cases:
        for s in c["spans"]:
            assert s["value"] in c["text"], (c, s)
        f.write(json.dumps(c, ensure_ascii=False) + "\n")
npos = sum(1 for c in cases if c["spans"])
print(f"{len(cases)} cases, {npos} with personal data, {len(cases) - npos} negatives")
