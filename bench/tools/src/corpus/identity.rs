//! Who a generated site's business is: its id and domains, identity and legal notice,
//! contact details and address.

use vitrine::export::record::{
    Address, Contact, Country, Decimal, Geo, Identity, Legal, Logo, Phone, PhoneKind, Registration,
};
use vitrine::site::Host;

use super::text::{idn_label, luhn_complete, slug};
use super::{bank, Site};

impl Site {
    /// The site id (`NAME-CITY-00042`) and the label of its main domain (`NAME-CITY-42`).
    pub(super) fn id_and_label(&self) -> (String, String) {
        let city = slug(self.city.name);
        let mut base = slug(&self.name);
        if !base.contains(&city) {
            base = format!("{base}-{city}");
        }
        let max = 63 - 1 - self.width;
        if base.len() > max {
            let cut = base[..=max].rfind('-').unwrap_or(max);
            base.truncate(cut);
        }
        let base = base.trim_end_matches('-');
        (
            format!("{base}-{:0width$}", self.n, width = self.width),
            format!("{base}-{}", self.n),
        )
    }

    pub(super) fn domains(&mut self, label: &str) -> Vec<String> {
        let tld = if self.english {
            *self.weighted(&[("co.uk", 70), ("com", 25), ("uk", 5)])
        } else {
            *self.weighted(&[("fr", 78), ("com", 18), ("eu", 4)])
        };
        let main = format!("{label}.{tld}");
        let mut domains = vec![main.clone()];
        if self.chance(0.65) {
            domains.push(format!("www.{main}"));
        }
        if self.chance(0.22) {
            let other = match (self.english, tld) {
                (false, "fr") => "com",
                (false, _) => "fr",
                (true, "com") => "co.uk",
                (true, _) => "com",
            };
            domains.push(format!("{label}.{other}"));
            if self.chance(0.35) {
                domains.push(format!("www.{label}.{other}"));
            }
        }
        // A name with accents often gets its accented domain too.
        let number = self.n.to_string();
        let unicode = format!("{}-{}", idn_label(&self.name, self.city.name), number);
        if !self.english && !unicode.is_ascii() && self.chance(0.1) {
            if let Ok(host) = Host::parse(format!("{unicode}.fr").as_bytes()) {
                let host = host.as_str().to_owned();
                if self.chance(0.2) {
                    domains.insert(0, host);
                } else {
                    domains.push(host);
                }
            }
        }
        if self.chance(0.05) {
            let old = if self.english { "co.uk" } else { "fr" };
            domains.push(format!(
                "{}-{}-{number}.{old}",
                self.act.key,
                slug(self.surname)
            ));
        }
        let mut seen = Vec::with_capacity(domains.len());
        domains.retain(|d| {
            let new = !seen.contains(d);
            seen.push(d.clone());
            new
        });
        domains
    }

    pub(super) fn identity(&mut self) -> Identity {
        let accent = self.chance(0.8).then(|| {
            let palette = if self.chance(0.7) {
                &self.act.accents
            } else {
                &bank::bank().accents
            };
            self.pick(palette).to_owned()
        });
        let slogan = self.chance(0.7).then(|| {
            let s = self.pick(&self.act.slogans);
            self.fill(s)
        });
        let logo = self.chance(0.55).then(|| {
            let src = self.pick(&["logo.png", "logo.svg", "images/logo.png", "logo.webp"]);
            let (width, height) = if self.chance(0.2) {
                (None, None)
            } else if self.chance(0.5) {
                (Some(240), Some(240))
            } else {
                (Some(400), Some(120))
            };
            Logo {
                src: src.to_owned(),
                alt: self.fill(self.w.logo_alt),
                width,
                height,
            }
        });
        Identity {
            name: self.name.clone(),
            activity: self.act.label.to_owned(),
            schema_type: self.act.schema.map(str::to_owned),
            accent,
            slogan,
            logo,
            legal: if self.english {
                self.legal_uk()
            } else {
                self.legal_fr()
            },
        }
    }

    fn legal_fr(&mut self) -> Legal {
        let regulated = self.act.profession.is_some();
        let capital = self.pick(&[
            1_000u32, 5_000, 7_500, 8_000, 10_000, 15_000, 20_000, 50_000,
        ]);
        let capital = format!("{} {:03}", capital / 1000, capital % 1000);
        let form = if regulated {
            *self.weighted(&[("SELARL", 50), ("SCP", 15), ("SELAS", 10), ("EI", 25)])
        } else {
            *self.weighted(&[
                ("SARL", 40),
                ("SAS", 20),
                ("EURL", 12),
                ("SASU", 8),
                ("EI", 20),
            ])
        };
        let (company, form_line) = if form == "EI" {
            (
                format!("{} {} EI", self.first, self.surname),
                "Entreprise individuelle".to_owned(),
            )
        } else if form == "SCP" {
            (
                format!("SCP {}", self.name),
                "Société civile professionnelle".to_owned(),
            )
        } else {
            (
                format!("{} {form}", self.name),
                format!("{form} au capital de {capital} €"),
            )
        };
        let siren = luhn_complete(&self.digits(8));
        let registration = if form == "EI" || self.chance(0.5) {
            let nic = luhn_complete(&format!("{siren}000{}", 1 + self.below(9)));
            Registration {
                kind: Some("SIRET".to_owned()),
                number: format!("{} {} {} {}", &nic[0..3], &nic[3..6], &nic[6..9], &nic[9..]),
            }
        } else {
            Registration {
                kind: Some(format!("RCS {}", self.city.name)),
                number: format!("{} {} {}", &siren[0..3], &siren[3..6], &siren[6..]),
            }
        };
        let vat = (form != "EI" && self.chance(0.75)).then(|| {
            let n: u64 = siren.parse().unwrap_or(0);
            format!("FR{:02}{siren}", (12 + 3 * (n % 97)) % 97)
        });
        let director = self
            .chance(0.8)
            .then(|| format!("{} {}", self.first, self.surname));
        let profession = self.act.profession.map(|p| {
            let rpps = format!("10{}", self.digits(9));
            let order = self.digits(5);
            self.fill_with(p, &[("rpps", &rpps), ("order", &order)])
        });
        let insurance = if self.act.builder || regulated || self.chance(0.15) {
            let insurer = self.pick(&bank::bank().insurers);
            let kind = if self.act.builder {
                "Garantie décennale"
            } else {
                "RC professionnelle"
            };
            Some(format!("{kind} : {insurer}, contrat n° {}", self.digits(8)))
        } else {
            None
        };
        Legal {
            company,
            form: Some(form_line),
            registration,
            vat,
            director,
            profession,
            insurance,
            host: Some(self.pick(&self.w.host).to_owned()),
        }
    }

    fn legal_uk(&mut self) -> Legal {
        let scotland = self.city.name == "Edinburgh";
        let number = if scotland {
            format!("SC{}", self.digits(6))
        } else {
            self.digits(8)
        };
        let profession = self.act.profession.map(|p| {
            let order = self.digits(6);
            self.fill_with(p, &[("order", &order)])
        });
        Legal {
            company: format!("{} Ltd", self.name),
            form: Some(
                if scotland {
                    "Private limited company registered in Scotland"
                } else {
                    "Private limited company registered in England and Wales"
                }
                .to_owned(),
            ),
            registration: Registration {
                kind: Some("Company number".to_owned()),
                number,
            },
            vat: self.chance(0.6).then(|| format!("GB{}", self.digits(9))),
            director: self
                .chance(0.8)
                .then(|| format!("{} {}", self.first, self.surname)),
            profession,
            insurance: None,
            host: Some(self.pick(&self.w.host).to_owned()),
        }
    }

    // --- contact -------------------------------------------------------------------------

    pub(super) fn contact(&mut self, main_domain: &str) -> Contact {
        let mut phones = Vec::new();
        let mobile_only = self.chance(0.1);
        if !mobile_only {
            phones.push(self.phone(PhoneKind::Landline));
        }
        if mobile_only || self.chance(0.3) {
            phones.push(self.phone(PhoneKind::Mobile));
        }
        if !self.english && self.chance(0.05) {
            phones.push(self.phone(PhoneKind::Fax));
        }
        self.phone = Some((phones[0].display.clone(), phones[0].number.clone()));
        let email = match self.below(10) {
            0..=6 => Some(format!("contact@{main_domain}")),
            7 => Some(format!(
                "{}.{}@{main_domain}",
                slug(self.first),
                slug(self.surname)
            )),
            8 => {
                let host = if self.english {
                    "gmail.com"
                } else {
                    self.pick(&["orange.fr", "gmail.com", "wanadoo.fr", "free.fr"])
                };
                Some(format!(
                    "{}{}@{host}",
                    slug(&self.name).replace('-', "."),
                    self.n
                ))
            }
            _ => None,
        };
        self.email = email.clone();
        let address = if self.english {
            self.address_uk()
        } else {
            self.address_fr()
        };
        Contact {
            phones,
            email,
            address,
        }
    }

    fn phone(&mut self, kind: PhoneKind) -> Phone {
        if self.english {
            let (display, e164) = match kind {
                PhoneKind::Mobile => ("07700 900".to_owned(), "+447700900".to_owned()),
                _ => {
                    let (d, e) = bank::bank().uk_phones[usize::from(self.city.zone)];
                    (format!("{d}0"), format!("{e}0"))
                }
            };
            let tail = self.digits(3);
            return Phone {
                kind,
                number: format!("{e164}{tail}"),
                display: format!("{display}{tail}"),
            };
        }
        let zone = match kind {
            PhoneKind::Mobile => self.pick(&[6u8, 7]),
            _ => self.city.zone,
        };
        let pairs: Vec<String> = (0..4)
            .map(|i| {
                let lo = if i == 0 { 10 } else { 0 };
                format!("{:02}", lo + self.below(100 - lo))
            })
            .collect();
        Phone {
            kind,
            number: format!("+33{zone}{}", pairs.concat()),
            display: format!("0{zone} {}", pairs.join(" ")),
        }
    }

    fn address_fr(&mut self) -> Address {
        let mut number = (1 + self.below(180)).to_string();
        if self.chance(0.05) {
            number.push_str(" bis");
        }
        self.street = format!("{number} {}", self.pick(&bank::bank().streets_fr));
        let mut street = vec![self.street.clone()];
        if self.chance(0.12) {
            street.push(self.pick(&bank::bank().street2_fr).to_owned());
        }
        let base: u32 = self.city.postcode.parse().unwrap_or(0);
        let district = self.below(u64::from(self.city.districts)) as u32;
        self.postcode = format!("{:05}", base + district);
        self.address(street)
    }

    /// The address of the streets given, in the current city and postcode.
    fn address(&mut self, street: Vec<String>) -> Address {
        Address {
            street,
            postcode: self.postcode.clone(),
            city: self.city.name.to_owned(),
            country: Country {
                code: self.w.country.0.to_owned(),
                name: self.w.country.1.to_owned(),
            },
            geo: self.geo(),
        }
    }

    fn address_uk(&mut self) -> Address {
        self.street = format!(
            "{} {}",
            1 + self.below(120),
            self.pick(&bank::bank().streets_en)
        );
        let mut street = vec![self.street.clone()];
        if self.chance(0.15) {
            street.insert(0, self.pick(&bank::bank().street2_en).to_owned());
        }
        let outward: Vec<&str> = self.city.postcode.split(' ').collect();
        let outward = self.pick(&outward);
        // Inward codes never use C, I, K, M, O or V.
        const LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
        let a = char::from(self.pick(LETTERS));
        let b = char::from(self.pick(LETTERS));
        self.postcode = format!("{outward} {}{a}{b}", self.below(10));
        self.address(street)
    }

    fn geo(&mut self) -> Option<Geo> {
        self.chance(0.85).then(|| {
            let lat = self.city.lat + (self.u() - 0.5) * 0.04;
            let lon = self.city.lon + (self.u() - 0.5) * 0.06;
            Geo {
                lat: Decimal(format!("{lat:.4}")),
                lon: Decimal(format!("{lon:.4}")),
            }
        })
    }
}
