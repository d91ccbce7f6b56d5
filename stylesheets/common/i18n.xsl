<?xml version="1.0" encoding="UTF-8"?>
<!--
  Interface strings, French and English (any lang that does not start with "fr" gets English).
  A theme may not read other files (publisher rule), so the strings live here, in one
  table per language: one place to add a key or a language.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <!-- true when the site is in French -->
  <xsl:variable name="fr" select="starts-with(/site/@lang, 'fr')"/>

  <!-- Interface strings as one "|key=text|" table per language: a lookup is one XPath string
       search instead of walking an xsl:choose of forty tests (that walk was about a sixth of
       a page's transform). Texts never contain "|"; keys never contain "=". -->
  <xsl:variable name="strings-fr" select="'|skip=Aller au contenu|nav=Navigation principale|home=Accueil|contact=Contact|practical=Infos pratiques|hours=Horaires d’ouverture|day=Jour|opening=Heures d’ouverture|closed=Fermé|and= et |closure=Fermeture exceptionnelle|closures=Fermetures exceptionnelles|phone-landline=Téléphone|phone-mobile=Mobile|phone-fax=Fax|email=E-mail|address=Adresse|map=Voir sur la carte|call=Appeler|write=Écrire|legal=Mentions légales|company=Raison sociale|form=Forme juridique|registration=Immatriculation|vat=N° TVA intracommunautaire|director=Directeur·rice de la publication|profession=Profession réglementée|insurance=Assurance professionnelle|host=Hébergement|on-request=Sur devis|from=à partir de |not-found=Page introuvable|not-found-text=La page demandée n’existe pas ou a été déplacée. Les autres pages du site sont listées dans le menu.|back-home=Retour à l’accueil|video-fallback=Votre navigateur ne peut pas lire cette vidéo.|video-download=Télécharger la vidéo|gallery=Galerie photos|rights=Tous droits réservés.|email-us=Nous écrire|'"/>
  <xsl:variable name="strings-en" select="'|skip=Skip to content|nav=Main navigation|home=Home|contact=Contact|practical=Visit us|hours=Opening hours|day=Day|opening=Hours|closed=Closed|and=, |closure=Exceptional closure|closures=Exceptional closures|phone-landline=Phone|phone-mobile=Mobile|phone-fax=Fax|email=Email|address=Address|map=View on map|call=Call|write=Email|legal=Legal notice|company=Company|form=Legal form|registration=Registration|vat=VAT number|director=Publication director|profession=Regulated profession|insurance=Professional insurance|host=Hosting|on-request=On request|from=from |not-found=Page not found|not-found-text=The page you asked for does not exist or has moved. The other pages of this site are listed in the menu.|back-home=Back to the home page|video-fallback=Your browser cannot play this video.|video-download=Download the video|gallery=Photo gallery|rights=All rights reserved.|email-us=Email us|'"/>
  <xsl:variable name="strings" select="concat(substring($strings-fr, 1 div $fr), substring($strings-en, 1 div not($fr)))"/>

  <!-- Interface string by key (the key itself when it has none). One search of the table:
       every reference to $strings copies the whole table (libxslt hands XPath a copy of a
       variable's value), so a contains() test before the lookup doubled the cost of the
       most called template of a page. A text is never empty, so '' means "no such key". -->
  <xsl:template name="t">
    <xsl:param name="key"/>
    <xsl:variable name="text" select="substring-before(substring-after($strings, concat('|', $key, '=')), '|')"/>
    <xsl:value-of select="$text"/>
    <xsl:if test="$text = ''"><xsl:value-of select="$key"/></xsl:if>
  </xsl:template>

  <!-- Day name from the schema's English day token (monday..sunday). -->
  <xsl:template name="day-name">
    <xsl:param name="day"/>
    <xsl:choose>
      <xsl:when test="$fr">
        <xsl:value-of select="substring-before(substring-after(
          '|monday:Lundi|tuesday:Mardi|wednesday:Mercredi|thursday:Jeudi|friday:Vendredi|saturday:Samedi|sunday:Dimanche|',
          concat('|', $day, ':')), '|')"/>
      </xsl:when>
      <xsl:otherwise>
        <!-- Capitalise the token: monday -> Monday -->
        <xsl:value-of select="translate(substring($day, 1, 1), 'mtwfs', 'MTWFS')"/>
        <xsl:value-of select="substring($day, 2)"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Month name from its number (1..12). -->
  <xsl:template name="month-name">
    <xsl:param name="month"/>
    <xsl:variable name="m" select="number($month)"/>
    <xsl:choose>
      <xsl:when test="$fr">
        <xsl:value-of select="substring-before(substring-after(
          '|1:janvier|2:février|3:mars|4:avril|5:mai|6:juin|7:juillet|8:août|9:septembre|10:octobre|11:novembre|12:décembre|',
          concat('|', $m, ':')), '|')"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="substring-before(substring-after(
          '|1:January|2:February|3:March|4:April|5:May|6:June|7:July|8:August|9:September|10:October|11:November|12:December|',
          concat('|', $m, ':')), '|')"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

</xsl:stylesheet>
