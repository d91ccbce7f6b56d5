<?xml version="1.0" encoding="UTF-8"?>
<!--
  Interface strings, French and English (any lang that does not start with "fr" gets English).
  A theme may not read other files (publisher rule), so the strings are
  a plain xsl:choose: one place to add a key or a language.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <!-- true when the site is in French -->
  <xsl:variable name="fr" select="starts-with(/site/@lang, 'fr')"/>

  <!-- Interface string by key. -->
  <xsl:template name="t">
    <xsl:param name="key"/>
    <xsl:choose>
      <xsl:when test="$fr">
        <xsl:choose>
          <xsl:when test="$key = 'skip'">Aller au contenu</xsl:when>
          <xsl:when test="$key = 'nav'">Navigation principale</xsl:when>
          <xsl:when test="$key = 'home'">Accueil</xsl:when>
          <xsl:when test="$key = 'contact'">Contact</xsl:when>
          <xsl:when test="$key = 'practical'">Infos pratiques</xsl:when>
          <xsl:when test="$key = 'hours'">Horaires d’ouverture</xsl:when>
          <xsl:when test="$key = 'day'">Jour</xsl:when>
          <xsl:when test="$key = 'opening'">Heures d’ouverture</xsl:when>
          <xsl:when test="$key = 'closed'">Fermé</xsl:when>
          <xsl:when test="$key = 'and'"> et </xsl:when>
          <xsl:when test="$key = 'closure'">Fermeture exceptionnelle</xsl:when>
          <xsl:when test="$key = 'closures'">Fermetures exceptionnelles</xsl:when>
          <xsl:when test="$key = 'phone-landline'">Téléphone</xsl:when>
          <xsl:when test="$key = 'phone-mobile'">Mobile</xsl:when>
          <xsl:when test="$key = 'phone-fax'">Fax</xsl:when>
          <xsl:when test="$key = 'email'">E-mail</xsl:when>
          <xsl:when test="$key = 'address'">Adresse</xsl:when>
          <xsl:when test="$key = 'map'">Voir sur la carte</xsl:when>
          <xsl:when test="$key = 'call'">Appeler</xsl:when>
          <xsl:when test="$key = 'write'">Écrire</xsl:when>
          <xsl:when test="$key = 'legal'">Mentions légales</xsl:when>
          <xsl:when test="$key = 'company'">Raison sociale</xsl:when>
          <xsl:when test="$key = 'form'">Forme juridique</xsl:when>
          <xsl:when test="$key = 'registration'">Immatriculation</xsl:when>
          <xsl:when test="$key = 'vat'">N° TVA intracommunautaire</xsl:when>
          <xsl:when test="$key = 'director'">Directeur·rice de la publication</xsl:when>
          <xsl:when test="$key = 'profession'">Profession réglementée</xsl:when>
          <xsl:when test="$key = 'insurance'">Assurance professionnelle</xsl:when>
          <xsl:when test="$key = 'host'">Hébergement</xsl:when>
          <xsl:when test="$key = 'on-request'">Sur devis</xsl:when>
          <xsl:when test="$key = 'from'">à partir de </xsl:when>
          <xsl:when test="$key = 'not-found'">Page introuvable</xsl:when>
          <xsl:when test="$key = 'not-found-text'">La page demandée n’existe pas ou a été déplacée. Les autres pages du site sont listées dans le menu.</xsl:when>
          <xsl:when test="$key = 'back-home'">Retour à l’accueil</xsl:when>
          <xsl:when test="$key = 'video-fallback'">Votre navigateur ne peut pas lire cette vidéo.</xsl:when>
          <xsl:when test="$key = 'video-download'">Télécharger la vidéo</xsl:when>
          <xsl:when test="$key = 'gallery'">Galerie photos</xsl:when>
          <xsl:when test="$key = 'rights'">Tous droits réservés.</xsl:when>
          <xsl:when test="$key = 'email-us'">Nous écrire</xsl:when>
          <xsl:otherwise><xsl:value-of select="$key"/></xsl:otherwise>
        </xsl:choose>
      </xsl:when>
      <xsl:otherwise>
        <xsl:choose>
          <xsl:when test="$key = 'skip'">Skip to content</xsl:when>
          <xsl:when test="$key = 'nav'">Main navigation</xsl:when>
          <xsl:when test="$key = 'home'">Home</xsl:when>
          <xsl:when test="$key = 'contact'">Contact</xsl:when>
          <xsl:when test="$key = 'practical'">Visit us</xsl:when>
          <xsl:when test="$key = 'hours'">Opening hours</xsl:when>
          <xsl:when test="$key = 'day'">Day</xsl:when>
          <xsl:when test="$key = 'opening'">Hours</xsl:when>
          <xsl:when test="$key = 'closed'">Closed</xsl:when>
          <xsl:when test="$key = 'and'">, </xsl:when>
          <xsl:when test="$key = 'closure'">Exceptional closure</xsl:when>
          <xsl:when test="$key = 'closures'">Exceptional closures</xsl:when>
          <xsl:when test="$key = 'phone-landline'">Phone</xsl:when>
          <xsl:when test="$key = 'phone-mobile'">Mobile</xsl:when>
          <xsl:when test="$key = 'phone-fax'">Fax</xsl:when>
          <xsl:when test="$key = 'email'">Email</xsl:when>
          <xsl:when test="$key = 'address'">Address</xsl:when>
          <xsl:when test="$key = 'map'">View on map</xsl:when>
          <xsl:when test="$key = 'call'">Call</xsl:when>
          <xsl:when test="$key = 'write'">Email</xsl:when>
          <xsl:when test="$key = 'legal'">Legal notice</xsl:when>
          <xsl:when test="$key = 'company'">Company</xsl:when>
          <xsl:when test="$key = 'form'">Legal form</xsl:when>
          <xsl:when test="$key = 'registration'">Registration</xsl:when>
          <xsl:when test="$key = 'vat'">VAT number</xsl:when>
          <xsl:when test="$key = 'director'">Publication director</xsl:when>
          <xsl:when test="$key = 'profession'">Regulated profession</xsl:when>
          <xsl:when test="$key = 'insurance'">Professional insurance</xsl:when>
          <xsl:when test="$key = 'host'">Hosting</xsl:when>
          <xsl:when test="$key = 'on-request'">On request</xsl:when>
          <xsl:when test="$key = 'from'">from </xsl:when>
          <xsl:when test="$key = 'not-found'">Page not found</xsl:when>
          <xsl:when test="$key = 'not-found-text'">The page you asked for does not exist or has moved. The other pages of this site are listed in the menu.</xsl:when>
          <xsl:when test="$key = 'back-home'">Back to the home page</xsl:when>
          <xsl:when test="$key = 'video-fallback'">Your browser cannot play this video.</xsl:when>
          <xsl:when test="$key = 'video-download'">Download the video</xsl:when>
          <xsl:when test="$key = 'gallery'">Photo gallery</xsl:when>
          <xsl:when test="$key = 'rights'">All rights reserved.</xsl:when>
          <xsl:when test="$key = 'email-us'">Email us</xsl:when>
          <xsl:otherwise><xsl:value-of select="$key"/></xsl:otherwise>
        </xsl:choose>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Day name from the schema's English day token (monday..sunday). -->
  <xsl:template name="day-name">
    <xsl:param name="day"/>
    <xsl:choose>
      <xsl:when test="$fr">
        <xsl:choose>
          <xsl:when test="$day = 'monday'">Lundi</xsl:when>
          <xsl:when test="$day = 'tuesday'">Mardi</xsl:when>
          <xsl:when test="$day = 'wednesday'">Mercredi</xsl:when>
          <xsl:when test="$day = 'thursday'">Jeudi</xsl:when>
          <xsl:when test="$day = 'friday'">Vendredi</xsl:when>
          <xsl:when test="$day = 'saturday'">Samedi</xsl:when>
          <xsl:when test="$day = 'sunday'">Dimanche</xsl:when>
        </xsl:choose>
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
